/* Circuit breaker state machine. */
#include "storage/circuit.h"

void
kr_circuit_init(struct kr_circuit *c, unsigned threshold, int64_t probe_ms)
{
	c->state = KR_CIRCUIT_CLOSED;
	c->failures = 0;
	c->threshold = threshold > 0 ? threshold : 1;
	c->probe_ms = probe_ms;
	c->opened_at_ms = 0;
	c->probing = false;
}

bool
kr_circuit_is_open(const struct kr_circuit *c, int64_t now_ms)
{
	switch (c->state) {
	case KR_CIRCUIT_CLOSED:
		return false;
	case KR_CIRCUIT_OPEN:
		return now_ms - c->opened_at_ms < c->probe_ms;
	case KR_CIRCUIT_HALF_OPEN:
		return c->probing;
	}
	return false;
}

bool
kr_circuit_is_down(const struct kr_circuit *c)
{
	return c->state != KR_CIRCUIT_CLOSED;
}

bool
kr_circuit_allow(struct kr_circuit *c, int64_t now_ms)
{
	if (c->state == KR_CIRCUIT_OPEN &&
	    now_ms - c->opened_at_ms >= c->probe_ms) {
		c->state = KR_CIRCUIT_HALF_OPEN;
		c->probing = false;
	}
	switch (c->state) {
	case KR_CIRCUIT_CLOSED:
		return true;
	case KR_CIRCUIT_OPEN:
		return false;
	case KR_CIRCUIT_HALF_OPEN:
		if (c->probing)
			return false;
		c->probing = true;
		return true;
	}
	return false;
}

void
kr_circuit_success(struct kr_circuit *c)
{
	c->state = KR_CIRCUIT_CLOSED;
	c->failures = 0;
	c->probing = false;
}

void
kr_circuit_failure(struct kr_circuit *c, int64_t now_ms)
{
	c->failures++;
	if (c->state == KR_CIRCUIT_HALF_OPEN || c->failures >= c->threshold) {
		c->state = KR_CIRCUIT_OPEN;
		c->opened_at_ms = now_ms;
		c->probing = false;
	}
}
