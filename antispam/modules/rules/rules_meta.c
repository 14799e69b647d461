/* meta expressions: Perl's &&, ||, !, + - * /, comparisons and
 * parentheses over rule hit counts, compiled once into postfix code
 * (shunting-yard) and evaluated per message on a small stack. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/modules/rules/rules_int.h"

enum meta_op {
	OP_NUM,
	OP_RULE,
	OP_NOT,
	OP_NEG,
	OP_MUL,
	OP_DIV,
	OP_ADD,
	OP_SUB,
	OP_LT,
	OP_GT,
	OP_LE,
	OP_GE,
	OP_EQ,
	OP_NE,
	OP_AND,
	OP_OR,
	OP_LPAREN, /* only on the operator stack */
};

struct meta_ins {
	enum meta_op op;
	uint32_t rule; /* OP_RULE: index, UINT32_MAX when not defined */
	double num;
};

struct kr_rules_meta {
	struct meta_ins *code;
	size_t n;
	uint32_t *deps;
	bool *positive;
	size_t n_deps;
};

static int
op_prec(enum meta_op op)
{
	switch (op) {
	case OP_NOT:
	case OP_NEG:
		return 10;
	case OP_MUL:
	case OP_DIV:
		return 9;
	case OP_ADD:
	case OP_SUB:
		return 8;
	case OP_LT:
	case OP_GT:
	case OP_LE:
	case OP_GE:
		return 7;
	case OP_EQ:
	case OP_NE:
		return 6;
	case OP_AND:
		return 5;
	case OP_OR:
		return 4;
	default:
		return 0;
	}
}

static bool
op_unary(enum meta_op op)
{
	return op == OP_NOT || op == OP_NEG;
}

/* The binary operator at s (its length in *len_r), or OP_NUM. */
static enum meta_op
op_binary(const char *s, size_t *len_r)
{
	static const struct {
		const char *text;
		enum meta_op op;
	} ops[] = {
		{ "&&", OP_AND }, { "||", OP_OR }, { "<=", OP_LE },
		{ ">=", OP_GE },  { "==", OP_EQ }, { "!=", OP_NE },
		{ "<", OP_LT },	  { ">", OP_GT },  { "+", OP_ADD },
		{ "-", OP_SUB },  { "*", OP_MUL }, { "/", OP_DIV },
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
		size_t l = strlen(ops[i].text);

		if (strncmp(s, ops[i].text, l) == 0) {
			*len_r = l;
			return ops[i].op;
		}
	}
	return OP_NUM;
}

struct meta_build {
	struct meta_ins out[KR_RULES_META_TOKENS_MAX];
	size_t n_out;
	enum meta_op stack[KR_RULES_META_TOKENS_MAX];
	size_t n_stack;
	const char *why;
};

static void
emit(struct meta_build *b, struct meta_ins ins)
{
	if (b->n_out >= KR_RULES_META_TOKENS_MAX) {
		b->why = "meta over KR_RULES_META_TOKENS_MAX tokens";
		return;
	}
	b->out[b->n_out++] = ins;
}

static void
push_op(struct meta_build *b, enum meta_op op)
{
	/* Unary operators are right-associative and ( opens a group:
	 * they pop nothing. */
	while (!op_unary(op) && op != OP_LPAREN && b->n_stack > 0 &&
	       b->stack[b->n_stack - 1] != OP_LPAREN &&
	       op_prec(b->stack[b->n_stack - 1]) >= op_prec(op))
		emit(b, (struct meta_ins){ .op = b->stack[--b->n_stack] });
	if (b->n_stack >= KR_RULES_META_TOKENS_MAX) {
		b->why = "meta over KR_RULES_META_TOKENS_MAX tokens";
		return;
	}
	b->stack[b->n_stack++] = op;
}

static const char *
tok_operand(struct meta_build *b, const struct kr_rules_set *set, const char *s)
{
	if (isdigit((unsigned char)*s) || *s == '.') {
		char *end;
		double v = strtod(s, &end);

		emit(b, (struct meta_ins){ .op = OP_NUM, .num = v });
		return end;
	}
	if (isalpha((unsigned char)*s) || *s == '_') {
		size_t n = 0;
		char name[KR_RULES_NAME_MAX + 1];
		const struct kr_rules_rule *r;

		while (isalnum((unsigned char)s[n]) || s[n] == '_')
			n++;
		if (n > KR_RULES_NAME_MAX) {
			b->why = "meta: name too long";
			return s + n;
		}
		memcpy(name, s, n);
		name[n] = '\0';
		r = kr_rules_set_find(set, name);
		emit(b, (struct meta_ins){
				.op = OP_RULE,
				.rule = r && r->defined
						? (uint32_t)kr_rules_set_index(
							  set, r)
						: UINT32_MAX,
			});
		return s + n;
	}
	b->why = "meta: operand expected";
	return s;
}

/* Infix to postfix; b->why set on a syntax error. */
static void
meta_parse(struct meta_build *b, const struct kr_rules_set *set, const char *s)
{
	bool want_operand = true;

	while (b->why == NULL) {
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		if (want_operand) {
			if (*s == '!' || *s == '-') {
				push_op(b, *s == '!' ? OP_NOT : OP_NEG);
				s++;
			} else if (*s == '(') {
				push_op(b, OP_LPAREN);
				s++;
			} else {
				s = tok_operand(b, set, s);
				want_operand = false;
			}
			continue;
		}
		if (*s == ')') {
			while (b->n_stack > 0 &&
			       b->stack[b->n_stack - 1] != OP_LPAREN)
				emit(b, (struct meta_ins){
						.op = b->stack[--b->n_stack] });
			if (b->n_stack == 0) {
				b->why = "meta: ) without (";
				return;
			}
			b->n_stack--;
			s++;
			continue;
		}
		size_t len;
		enum meta_op op = op_binary(s, &len);
		if (op == OP_NUM) {
			b->why = "meta: operator expected";
			return;
		}
		push_op(b, op);
		s += len;
		want_operand = true;
	}
	if (b->why == NULL && want_operand)
		b->why = "meta: ends without an operand";
	while (b->why == NULL && b->n_stack > 0) {
		if (b->stack[b->n_stack - 1] == OP_LPAREN)
			b->why = "meta: ( not closed";
		else
			emit(b,
			     (struct meta_ins){ .op = b->stack[--b->n_stack] });
	}
}

/* Polarity of each operand: +1 where a larger count can only raise
 * the result, -1 where it can only lower it, 0 where either. Walks the
 * postfix code as a tree: node k's operands end at k-1 (the right one)
 * and before the right one's start (the left one). */
static size_t
meta_polarity(const struct kr_rules_meta *m, size_t k, int sign,
	      signed char *pol)
{
	const struct meta_ins *ins = &m->code[k];
	size_t right_start, left_start;
	int ls = sign, rs = sign;

	if (ins->op == OP_NUM || ins->op == OP_RULE) {
		pol[k] = (signed char)sign;
		return k;
	}
	if (op_unary(ins->op))
		return meta_polarity(m, k - 1, -sign, pol);
	switch (ins->op) {
	case OP_SUB:
	case OP_DIV:
	case OP_GT:
	case OP_GE:
		rs = -sign;
		break;
	case OP_LT:
	case OP_LE:
		ls = -sign;
		break;
	case OP_EQ:
	case OP_NE:
		ls = rs = 0;
		break;
	default:
		break;
	}
	right_start = meta_polarity(m, k - 1, rs, pol);
	left_start = meta_polarity(m, right_start - 1, ls, pol);
	return left_start;
}

static bool
meta_check_arity(const struct meta_build *b)
{
	size_t depth = 0;

	for (size_t i = 0; i < b->n_out; i++) {
		enum meta_op op = b->out[i].op;

		if (op == OP_NUM || op == OP_RULE)
			depth++;
		else if (op_unary(op)) {
			if (depth < 1)
				return false;
		} else {
			if (depth < 2)
				return false;
			depth--;
		}
	}
	return depth == 1;
}

static void
meta_deps(struct kr_rules_meta *m)
{
	signed char *pol = kr_rules_xmalloc(m->n);

	meta_polarity(m, m->n - 1, 1, pol);
	m->deps = kr_rules_xmalloc(m->n * sizeof(*m->deps));
	m->positive = kr_rules_xmalloc(m->n * sizeof(*m->positive));
	for (size_t i = 0; i < m->n; i++) {
		if (m->code[i].op != OP_RULE)
			continue;
		m->deps[m->n_deps] = m->code[i].rule;
		m->positive[m->n_deps++] = pol[i] > 0;
	}
	/* A name used twice is positive only if positive everywhere. */
	for (size_t i = 0; i < m->n_deps; i++) {
		for (size_t j = 0; j < m->n_deps; j++) {
			if (m->deps[i] == m->deps[j] && !m->positive[j])
				m->positive[i] = false;
		}
	}
	free(pol);
}

struct kr_rules_meta *
kr_rules_meta_compile(const struct kr_rules_set *set, const char *expr,
		      char *err, size_t err_size)
{
	struct meta_build *b = kr_rules_xmalloc(sizeof(*b));
	struct kr_rules_meta *m;

	b->n_out = b->n_stack = 0;
	b->why = NULL;
	meta_parse(b, set, expr);
	if (b->why == NULL && (b->n_out == 0 || !meta_check_arity(b)))
		b->why = "meta: not an expression";
	if (b->why != NULL) {
		snprintf(err, err_size, "%s", b->why);
		free(b);
		return NULL;
	}
	m = kr_rules_xmalloc(sizeof(*m));
	m->n = b->n_out;
	m->n_deps = 0;
	m->code = kr_rules_xmalloc(m->n * sizeof(*m->code));
	memcpy(m->code, b->out, m->n * sizeof(*m->code));
	free(b);
	meta_deps(m);
	return m;
}

void
kr_rules_meta_free(struct kr_rules_meta *m)
{
	if (m == NULL)
		return;
	free(m->code);
	free(m->deps);
	free(m->positive);
	free(m);
}

size_t
kr_rules_meta_deps(const struct kr_rules_meta *m, const uint32_t **deps_r,
		   const bool **positive_r)
{
	*deps_r = m->deps;
	*positive_r = m->positive;
	return m->n_deps;
}

static double
meta_binary(enum meta_op op, double a, double b)
{
	switch (op) {
	case OP_MUL:
		return a * b;
	case OP_DIV:
		return b != 0 ? a / b : 0;
	case OP_ADD:
		return a + b;
	case OP_SUB:
		return a - b;
	case OP_LT:
		return a < b;
	case OP_GT:
		return a > b;
	case OP_LE:
		return a <= b;
	case OP_GE:
		return a >= b;
	case OP_EQ:
		return a == b;
	case OP_NE:
		return a != b;
	case OP_AND:
		return a != 0 && b != 0;
	default:
		return a != 0 || b != 0;
	}
}

double
kr_rules_meta_eval(const struct kr_rules_meta *m, const uint32_t *counts)
{
	double st[KR_RULES_META_TOKENS_MAX];
	size_t sp = 0;

	/* Arity was checked at compile time: the stack never underflows
	 * and holds at most n values. */
	for (size_t i = 0; i < m->n; i++) {
		const struct meta_ins *ins = &m->code[i];

		switch (ins->op) {
		case OP_NUM:
			st[sp++] = ins->num;
			break;
		case OP_RULE:
			st[sp++] =
				ins->rule == UINT32_MAX ? 0 : counts[ins->rule];
			break;
		case OP_NOT:
			st[sp - 1] = st[sp - 1] == 0;
			break;
		case OP_NEG:
			st[sp - 1] = -st[sp - 1];
			break;
		default:
			sp--;
			st[sp - 1] = meta_binary(ins->op, st[sp - 1], st[sp]);
			break;
		}
	}
	/* cppcheck-suppress uninitvar ; a checked expression pushes */
	return st[0];
}
