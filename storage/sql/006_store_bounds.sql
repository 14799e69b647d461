-- kurier mail store, part 4: bounds on what one user may create
-- (conventions of 002_store_core.sql; CREATE OR REPLACE only).
--
-- Rows returned to the C side are bounded everywhere: listings and
-- searches by LIMIT (kr_msg_list, kr_msg_search 1000; kr_mailbox_list,
-- kr_user_list 10000; kr_changes 10000, 100000 for one oversized
-- change), lookups by a key (one row), and the per-element answers of
-- kr_msg_move, kr_msg_copy, kr_deliver_batch and kr_user_import by
-- their input arrays, which the callers bound (KR_STORE_UIDS_MAX,
-- group_commit_max, the import batch).

-- As in 003_store_messages.sql, plus the cap: a user has at most 10000
-- mailboxes (KR_STORE_MAILBOXES_MAX in storage/store.h), 'too_many'
-- past it. Counted under the users row lock that every writer of the
-- user's mailboxes takes first, so concurrent creates count one after
-- the other (each statement here sees what committed before it got the
-- lock) and the cap holds exactly.
CREATE OR REPLACE FUNCTION kr_mailbox_create(p_user_id bigint, p_name text)
RETURNS TABLE (status text, id bigint, name text, role text, total int,
	unseen int, size bigint, uidvalidity bigint, uidnext bigint,
	modseq bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_modseq bigint;
	v_id bigint;
BEGIN
	IF NOT kr_mailbox_name_ok(p_name) THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('invalid', NULL);
		RETURN;
	END IF;
	SELECT u.modseq + 1 INTO v_modseq FROM users u
	WHERE u.id = p_user_id FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('not_found', NULL);
		RETURN;
	END IF;
	IF kr_mailbox_name_taken(p_user_id, p_name, NULL) THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('exists', NULL);
		RETURN;
	END IF;
	IF (SELECT count(*) FROM (SELECT 1 FROM mailboxes m
				  WHERE m.user_id = p_user_id
				  LIMIT 10000) s) >= 10000 THEN
		RETURN QUERY SELECT * FROM kr_mailbox_out('too_many', NULL);
		RETURN;
	END IF;
	UPDATE users u SET modseq = v_modseq WHERE u.id = p_user_id;
	INSERT INTO mailboxes (id, user_id, name, uidvalidity,
			       highest_modseq, modseq)
	SELECT s.id, p_user_id, p_name, kr_uidvalidity(s.id), v_modseq,
	       v_modseq
	FROM (SELECT nextval('mailboxes_id_seq') AS id) s
	RETURNING mailboxes.id INTO v_id;
	RETURN QUERY SELECT * FROM kr_mailbox_out('ok', v_id);
END
$$;
