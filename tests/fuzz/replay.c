/* Replays fuzz inputs without libFuzzer: linked with one target
 * (tests/fuzz/fuzz_<name>.c) in the normal and asan builds, it runs
 * LLVMFuzzerTestOneInput once over every file of the directories (or
 * files) given, so `make test` proves the whole corpus and every kept
 * crasher still pass. Each input sits in a buffer of exactly its size,
 * as under libFuzzer, so ASan sees any read past its end. A crash or
 * an abort() in the target ends the run; exits 1 when nothing was
 * replayed (a missing corpus must not pass). Usage:
 *   build/asan/replay/mime tests/fuzz/corpus/mime */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as for libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Corpus inputs are small; this only keeps a stray file from eating
 * the test machine's memory. */
#define REPLAY_INPUT_MAX (64UL << 20)

static int
replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the target over one file; -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *data;
	size_t size;

	if (f == NULL || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < 0 || (unsigned long)st.st_size > REPLAY_INPUT_MAX) {
		fprintf(stderr, "replay: %s: cannot read (or too large)\n",
			path);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	size = (size_t)st.st_size;
	/* malloc(0) may return NULL: keep one byte, pass size 0. */
	data = malloc(size > 0 ? size : 1);
	if (data == NULL || fread(data, 1, size, f) != size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Named first, so a crash's log says which input it was. */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
	(void)LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

/* Every file of dir not starting with '.', in name order so that runs
 * are reproducible; the count replayed, -1 on an error. */
static long
replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, len;
	long done = 0;

	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap > 0 ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL)
				abort();
		}
		len = strlen(dir) + strlen(e->d_name) + 2;
		names[n] = malloc(len);
		if (names[n] == NULL)
			abort();
		(void)snprintf(names[n], len, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), replay_cmp);
	for (size_t i = 0; i < n; i++) {
		if (done >= 0)
			done = replay_file(names[i]) < 0 ? -1 : done + 1;
		free(names[i]);
	}
	free(names);
	return done;
}

int
main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		(void)LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) < 0 ? -1 : 1;
		if (n < 0)
			return 1;
		total += n;
	}
	printf("replay: %ld inputs, no crash\n", total);
	return total > 0 ? 0 : 1;
}
