/* kurier rules check. */
#include "server/cli/cli_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/modules/rules/rules.h"
#include "server/cli/cli.h"

static const char *const rules_kind_names[] = {
	"header", "body", "rawbody", "uri", "full", "meta",
};

struct rules_file_count {
	size_t loaded, skipped;
};

static void
rules_print(const struct kr_rules_set *set)
{
	size_t n_files = kr_rules_set_files(set), loaded = 0, skipped = 0;
	struct rules_file_count *per =
		calloc(n_files ? n_files : 1, sizeof(*per));
	const struct kr_rules_note *notes;
	size_t n_notes = kr_rules_set_notes(set, &notes);

	if (per == NULL)
		abort();
	for (size_t i = 0; i < kr_rules_set_count(set); i++) {
		const struct kr_rules_rule *r = kr_rules_set_get(set, i);

		if (!r->defined)
			continue;
		r->loaded ? per[r->file].loaded++ : per[r->file].skipped++;
	}
	for (size_t f = 0; f < n_files; f++) {
		printf("%s: %zu loaded, %zu skipped\n",
		       kr_rules_set_file(set, f), per[f].loaded,
		       per[f].skipped);
		for (size_t i = 0; i < kr_rules_set_count(set); i++) {
			const struct kr_rules_rule *r =
				kr_rules_set_get(set, i);

			if (r->defined && !r->loaded && r->file == f)
				printf("  skipped %s %s (line %u): %s\n",
				       rules_kind_names[r->kind], r->name,
				       r->line, r->reason);
		}
		for (size_t i = 0; i < n_notes; i++) {
			if (notes[i].file == f)
				printf("  note (line %u): %s\n", notes[i].line,
				       notes[i].text);
		}
		loaded += per[f].loaded;
		skipped += per[f].skipped;
	}
	printf("total: %zu files, %zu rules loaded, %zu skipped\n", n_files,
	       loaded, skipped);
	free(per);
}

int
kr_cli_rules_run(int argc, char **argv)
{
	struct kr_rules_set *set;
	char err[512];
	int rc = 0;

	if (argc < 1 || strcmp(argv[0], "check") != 0) {
		fprintf(stderr, "usage: kurier rules check [FILE...]\n");
		return KR_CLI_USAGE;
	}
	set = kr_rules_set_create();
	if (argc == 1)
		rc = kr_rules_set_add_glob(set, KR_RULES_DEFAULT_GLOB, err,
					   sizeof(err));
	for (int i = 1; rc == 0 && i < argc; i++)
		rc = kr_rules_set_add_glob(set, argv[i], err, sizeof(err));
	if (rc == 0)
		rc = kr_rules_set_finish(set, err, sizeof(err));
	/* The matcher too: it skips the rules over the cost budget ("too
	 * slow"), and proves Hyperscan takes the rest. */
	if (rc == 0) {
		char dir[512], why[600];
		struct kr_rules_matcher *m = kr_rules_matcher_create(
			set,
			kr_rules_cache_dir(dir, sizeof(dir), why,
					   sizeof(why)) == 0
				? dir
				: NULL,
			err, sizeof(err));

		rc = m != NULL ? 0 : -1;
		kr_rules_matcher_destroy(&m);
	}
	if (rc != 0) {
		fprintf(stderr, "kurier: rules: %s\n", err);
		kr_rules_set_destroy(&set);
		return KR_CLI_FAIL;
	}
	rules_print(set);
	kr_rules_set_destroy(&set);
	return fflush(stdout) == 0 ? KR_CLI_OK : KR_CLI_FAIL;
}
