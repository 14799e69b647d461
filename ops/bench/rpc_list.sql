-- pgbench script for ops/bench_rpc.sh: what kurierd sends PostgreSQL
-- for one JSON-RPC message.list (storage/store_message.c,
-- kr_store_message_list_begin): the same function with the same
-- arguments, all rows fetched. Run with -M extended, kurier's protocol
-- (PQsendQueryParams: an unnamed statement, text parameters, planned
-- at every call). before_uid is absent in the benchmark: kurier sends a
-- NULL parameter, here a NULL literal, which plans the same.
-- Variables (-D): user_id, mailbox_id, lim (50).
SELECT * FROM kr_msg_list(:user_id, :mailbox_id, :lim, NULL);
