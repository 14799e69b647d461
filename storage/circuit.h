/* Circuit breaker for one database node (SPEC.md §4): closed while the
 * node answers; open after `failures` consecutive connection-level
 * failures, so requests fail fast instead of piling up on a dead node;
 * half-open once `probe_ms` has passed: one probe is let through, and
 * its success closes the circuit, its failure opens it again. Plain
 * state machine, time passed in; one thread. */
#ifndef KR_CIRCUIT_H
#define KR_CIRCUIT_H

#include <stdbool.h>
#include <stdint.h>

enum kr_circuit_state {
	KR_CIRCUIT_CLOSED,
	KR_CIRCUIT_OPEN,
	KR_CIRCUIT_HALF_OPEN,
};

struct kr_circuit {
	enum kr_circuit_state state;
	unsigned failures;    /* consecutive */
	unsigned threshold;   /* failures that open it */
	int64_t probe_ms;     /* open -> half-open after this */
	int64_t opened_at_ms; /* when it last opened */
	bool probing;	      /* half-open: the probe is out */
};

void kr_circuit_init(struct kr_circuit *c, unsigned threshold,
		     int64_t probe_ms);
/* May a request (or connection attempt) go to the node now? In
 * half-open, true once: for the probe. */
bool kr_circuit_allow(struct kr_circuit *c, int64_t now_ms);
/* True when the circuit is open (fail fast) without taking the probe. */
bool kr_circuit_is_open(const struct kr_circuit *c, int64_t now_ms);
/* True from the failure that opened the circuit until a success closes
 * it, while the probe is due or out too: the node's state as shown to
 * people (kurier_db_circuit_open), which must not drop to "closed" in
 * the gaps between failed probes the way kr_circuit_is_open does. */
bool kr_circuit_is_down(const struct kr_circuit *c);
void kr_circuit_success(struct kr_circuit *c);
void kr_circuit_failure(struct kr_circuit *c, int64_t now_ms);

#endif
