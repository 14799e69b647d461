/* Bayes training from message.move (SPEC.md §5 "Training"): a move
 * into Junk learns the moved messages as spam, out of Junk (except into
 * Trash) as ham. Runs after the move was answered, one message at a
 * time, best-effort: failures are logged and counted
 * (kurier_rpc_train_failed_total), never reported to the client.
 * Worker loop only. */
#ifndef KR_RPC_TRAIN_H
#define KR_RPC_TRAIN_H

#include <stdint.h>

#include "storage/store.h"

struct kr_rpc;

/* Trainings one worker runs at once; a move beyond that trains nothing
 * (counted as failed): training is worth less than the worker's
 * memory, and a user moving thousands of messages one call at a time
 * cannot queue unbounded work. */
#define RPC_TRAIN_MAX 64

/* After a successful move of user's messages from from_id to to_id
 * (res: their new uids, copied). Returns at once; nothing is called
 * back. Does nothing without an antispam host or a store. */
void rpc_train_move(struct kr_rpc *rpc, const struct kr_store_user *user,
		    int64_t from_id, int64_t to_id,
		    const struct kr_store_message_move_result *res);
/* Stops every training (kr_rpc_destroy, before the store goes). */
void rpc_train_destroy_all(struct kr_rpc *rpc);

#endif
