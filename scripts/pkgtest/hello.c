// SPDX-License-Identifier: MIT
/*
 * A program built outside the tree against an installed libgfiber, with
 * nothing but `pkg-config --cflags --libs gfiber` (scripts/check-install.sh,
 * scripts/deb.sh): gf_main, a fiber, an unbuffered channel, close.
 * Prints "gfiber VERSION sum 6" and exits 0.
 */
#include <gfiber.h>
#include <stdio.h>

static void producer(void *arg)
{
	gf_chan_t *c = arg;
	long i;

	for (i = 1; i <= 3; i++)
		gf_chan_send(c, &i);
	gf_chan_close(c);
	gf_chan_unref(c);
}

static int run(void *arg)
{
	gf_chan_t *c = gf_chan_new(sizeof(long), 0);
	long v, sum = 0;

	(void)arg;
	if (!c || gf_go(producer, gf_chan_ref(c)) < 0)
		return 1;
	while (gf_chan_recv(c, &v) == 0)
		sum += v;
	gf_chan_unref(c);
	printf("gfiber %s sum %ld\n", gf_version(), sum);
	return sum == 6 ? 0 : 1;
}

int main(void)
{
	return gf_main(run, NULL);
}
