// SPDX-License-Identifier: MIT
/*
 * echo.c - a TCP echo server on libgfiber's network calls: one fiber per
 * connection, each writing back what it reads until the peer closes.
 *
 * Usage: echo [host:port]		(default "localhost:7007")
 *
 * Prints "echo: listening on port N" once it listens (port 0 asks the
 * kernel for one). SIGTERM or SIGINT ends it cleanly: the listener is
 * closed (the accept loop wakes with EBADF), open connections are
 * closed too, and it exits 0 once their fibers are done.
 *
 * Signals as fibers see them: SIGTERM and SIGINT are blocked in every
 * thread (the runtime's threads inherit the mask of the thread that
 * calls gf_main) and read from a signalfd by a fiber, in gf_read.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "gfiber.h"

/* The connections alive, for the shutdown; under mu. */
#define MAXCONN	65536
static int conns[MAXCONN];
static int nconns;
static gf_mutex_t mu = GF_MUTEX_INIT;
static gf_waitgroup_t alive = GF_WAITGROUP_INIT;
static bool stopping;			/* under mu */
static int lfd = -1;

/* Track fd; false when shutting down or full (then it is not served). */
static bool conn_add(int fd)
{
	bool ok;

	gf_mutex_lock(&mu);
	ok = !stopping && nconns < MAXCONN;
	if (ok)
		conns[nconns++] = fd;
	gf_mutex_unlock(&mu);
	return ok;
}

/* Forget fd and close it, unless the shutdown closed it already. */
static void conn_close(int fd)
{
	int i;

	gf_mutex_lock(&mu);
	for (i = 0; i < nconns && conns[i] != fd; i++)
		;
	if (i < nconns) {
		conns[i] = conns[--nconns];
		gf_net_close(fd);
	}
	gf_mutex_unlock(&mu);
}

static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[16384];
	ssize_t n;

	while ((n = gf_net_read(fd, buf, sizeof(buf))) > 0)
		if (gf_net_write(fd, buf, (size_t)n) != n)
			break;
	conn_close(fd);
	gf_waitgroup_done(&alive);
}

/* Wait for SIGTERM/SIGINT, then close the listener and every connection. */
static void on_signal(void *arg)
{
	struct signalfd_siginfo si;
	int sfd = (int)(intptr_t)arg, i;

	while (gf_read(sfd, &si, sizeof(si)) != sizeof(si))
		if (errno != EAGAIN && errno != EINTR) {
			perror("echo: signalfd");
			return;
		}
	fprintf(stderr, "echo: %s, shutting down\n", strsignal((int)si.ssi_signo));
	gf_mutex_lock(&mu);
	stopping = true;
	gf_net_close(lfd);
	/* their fibers wake with EBADF and leave */
	for (i = 0; i < nconns; i++)
		gf_net_close(conns[i]);
	nconns = 0;
	gf_mutex_unlock(&mu);
	gf_close(sfd);
}

static int echo_main(void *arg)
{
	const char *hostport = arg;
	int fd, sfd;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		perror("echo: signalfd");
		return 1;
	}
	lfd = gf_net_listen(hostport, 0);
	if (lfd < 0) {
		fprintf(stderr, "echo: listen %s: %s\n", hostport,
			strerror(errno));
		return 1;
	}
	printf("echo: listening on port %d\n", gf_net_port(lfd));
	fflush(stdout);
	gf_go(on_signal, (void *)(intptr_t)sfd);
	for (;;) {
		fd = gf_net_accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EBADF)
				break;	/* closed by on_signal */
			/* out of descriptors, a reset: go on */
			fprintf(stderr, "echo: accept: %s\n", strerror(errno));
			gf_sleep(10 * 1000 * 1000);
			continue;
		}
		if (!conn_add(fd)) {
			gf_net_close(fd);
			continue;
		}
		gf_waitgroup_add(&alive, 1);
		gf_go(serve, (void *)(intptr_t)fd);
	}
	gf_waitgroup_wait(&alive);
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t set;
	int r;

	if (argc > 2) {
		fprintf(stderr, "usage: echo [host:port]\n");
		return 2;
	}
	/* before gf_main: every thread of the runtime inherits the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	r = gf_main(echo_main, argc > 1 ? argv[1] : "localhost:7007");
	if (r < 0) {
		perror("echo: gf_main");
		return 1;
	}
	return r;
}
