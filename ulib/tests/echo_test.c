// SPDX-License-Identifier: GPL-2.0
/*
 * echo_test.c - examples/echo, run: it listens on a port the kernel
 * picks, echoes several connections at once, each its own data, and
 * SIGTERM or SIGINT ends it with status 0 while connections are open.
 * The server is the example built with this test's flags (the
 * Makefile's bin/echo next to this program), spoken to over plain
 * blocking sockets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include "gftest.h"

struct server {
	pid_t pid;
	int port;
};

/* Start bin/echo on 127.0.0.1:0; its port from its first line. */
static int echo_start(struct server *sv)
{
	char exe[PATH_MAX], line[128];
	ssize_t n;
	int pfd[2];
	FILE *f;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 16);
	if (n < 0)
		return -1;
	exe[n] = 0;
	strcpy(strrchr(exe, '/'), "/bin/echo");
	if (pipe(pfd))
		return -1;
	sv->pid = fork();
	if (sv->pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(exe, "echo", "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	if (!f)
		return -1;
	sv->port = -1;
	if (fgets(line, sizeof(line), f))
		sscanf(line, "echo: listening on port %d", &sv->port);
	fclose(f);
	return sv->port > 0 ? 0 : -1;
}

static int connect_to(int port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send msg on fd and read it back whole: 0 when it came back equal. */
static int roundtrip(int fd, const char *msg)
{
	size_t n = strlen(msg), got = 0;
	char buf[256];

	if (write(fd, msg, n) != (ssize_t)n)
		return -1;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return memcmp(buf, msg, n) ? -1 : 0;
}

static void echo_and_stop(struct __test_metadata *_metadata, int sig)
{
	struct server sv;
	int fds[8], i, status;
	char msg[64];

	ASSERT_EQ(0, echo_start(&sv));
	for (i = 0; i < 8; i++) {
		fds[i] = connect_to(sv.port);
		ASSERT_LE(0, fds[i]);
	}
	/* interleaved: each connection gets its own data back */
	for (i = 0; i < 8; i++) {
		snprintf(msg, sizeof(msg), "connection %d, first", i);
		EXPECT_EQ(0, roundtrip(fds[i], msg));
	}
	for (i = 7; i >= 0; i--) {
		snprintf(msg, sizeof(msg), "connection %d, second", i);
		EXPECT_EQ(0, roundtrip(fds[i], msg));
	}
	/* one connection closed by its client, the rest left open */
	close(fds[0]);
	ASSERT_EQ(0, kill(sv.pid, sig));
	ASSERT_EQ(sv.pid, waitpid(sv.pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status)) {
		TH_LOG("status %#x", status);
	}
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* the server closed the open ones: end of stream */
	for (i = 1; i < 8; i++) {
		EXPECT_EQ(0, read(fds[i], msg, sizeof(msg)));
		close(fds[i]);
	}
}

TEST(echo_sigterm)
{
	echo_and_stop(_metadata, SIGTERM);
}

TEST(echo_sigint)
{
	echo_and_stop(_metadata, SIGINT);
}

TEST_HARNESS_MAIN
