// SPDX-License-Identifier: MIT
/*
 * main.c - httpd's command line.
 *
 *	httpd [--addr host:port] [--procs N] [--leak]
 *	      [--request-timeout D] [--idle-timeout D] [--shutdown-timeout D]
 *
 * Durations D: a number with a unit, ms, s, m or h ("500ms", "10s"); a bare
 * number is seconds. Defaults: 127.0.0.1:8080, GF_PROCS (or every CPU),
 * request 10s, idle 60s, shutdown 10s. The exit status is 0 after a
 * graceful shutdown (SIGTERM, SIGINT) in which every request ended, 1 if
 * the shutdown timeout cut some off, 2 for a bad command line.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "httpd.h"

struct httpd_config httpd_cfg = {
	.addr = "127.0.0.1:8080",
	.request_timeout = 10000 * NS_PER_MS,
	.idle_timeout = 60000 * NS_PER_MS,
	.shutdown_timeout = 10000 * NS_PER_MS,
};

static int usage(void)
{
	fprintf(stderr,
		"usage: httpd [--addr host:port] [--procs N] [--leak]\n"
		"             [--request-timeout D] [--idle-timeout D] [--shutdown-timeout D]\n"
		"  D: a duration, 500ms, 10s, 2m, 1h (a bare number is seconds)\n");
	return 2;
}

/* "500ms", "10s", "2m", "1h", "3" (seconds) into ns; -1 when malformed. */
static int64_t parse_duration(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0 || v > 86400 * 365.0)
		return -1;
	if (!strcmp(end, "ms"))
		return v * NS_PER_MS;
	if (!*end || !strcmp(end, "s"))
		return v * 1000 * NS_PER_MS;
	if (!strcmp(end, "m"))
		return v * 60000 * NS_PER_MS;
	if (!strcmp(end, "h"))
		return v * 3600000 * NS_PER_MS;
	return -1;
}

static int httpd_main(void *arg)
{
	(void)arg;
	return server_run();
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	sigset_t set;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t *dur = NULL;

		if (!strcmp(a, "--leak")) {
			httpd_cfg.leak = true;
			continue;
		}
		if (!v)
			return usage();
		if (!strcmp(a, "--addr"))
			httpd_cfg.addr = v;
		else if (!strcmp(a, "--procs"))
			setenv("GF_PROCS", v, 1);	/* read by gf_main */
		else if (!strcmp(a, "--request-timeout"))
			dur = &httpd_cfg.request_timeout;
		else if (!strcmp(a, "--idle-timeout"))
			dur = &httpd_cfg.idle_timeout;
		else if (!strcmp(a, "--shutdown-timeout"))
			dur = &httpd_cfg.shutdown_timeout;
		else
			return usage();
		if (dur && (*dur = parse_duration(v)) < 0)
			return usage();
		i++;
	}

	/* one descriptor per connection: as many as we may */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* blocked before gf_main, so in every runtime thread: the signal
	 * fiber takes them from a signalfd */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	i = gf_main(httpd_main, NULL);
	if (i < 0) {
		perror("httpd: gf_main");
		return 1;
	}
	return i;
}
