/* kurierd: the mail storage daemon. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto/mime.h"
#include "server/master.h"
#include "server/runtime.h"

static void __attribute__((noreturn)) usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: kurierd [-c CONFIG]\n"
		"  -c CONFIG  config file (default var/kurier.conf)\n");
	exit(code);
}

int
main(int argc, char **argv)
{
	const char *cfg_path = "var/kurier.conf";
	struct kr_runtime rt;
	struct kr_err err = { 0 };
	int opt, code;

	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	/* A client gone mid-answer is an error return from the write
	 * (EPIPE), not a signal that kills the worker: libevent writes
	 * sockets with writev, which has no MSG_NOSIGNAL. Workers inherit
	 * the disposition. */
	signal(SIGPIPE, SIG_IGN);
	/* Line-buffered so the addresses reach a pipe at once. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (kr_runtime_init(&rt, cfg_path, &err) < 0) {
		fprintf(stderr, "kurierd: %s\n", err.msg);
		return 1;
	}
	/* GMime (GLib) sets itself up once, before any thread exists;
	 * workers inherit it. */
	kr_mime_init();
	code = kr_master_run(&rt);
	kr_runtime_deinit(&rt);
	kr_mime_shutdown();
	return code;
}
