/* satchel-rtt: round trips of single IMAP commands, for bench/store.py.
 *
 * A Python client adds its own microseconds to every round trip it times;
 * on a 50 us round trip that is a good part of what is measured.  This
 * one is a blocking socket, a fixed buffer and clock_gettime around one
 * write and the reads up to the tagged reply.
 *
 *   satchel-rtt --port P [--port2 P2] [--login USER PASS] [--floor-port F]
 *               [--rounds R] [--reps K] [--pause-ms M] CMD...
 *
 * Connects to 127.0.0.1:P (and P2: a second server, same login), reads
 * the greeting, LOGINs if asked, then R rounds of: each CMD K times on P,
 * the same on P2 (P2 first in odd rounds), and K NOOPs to the floor
 * server on F (bench/floor.c) when given; M ms between rounds.  Prints one
 * JSON line: {"CMD": [us, ...], ..., "2:CMD": [...], "floor": [us, ...]}.  Loopback only; every wait
 * is bounded by a 10 s socket timeout; replies must not carry literals
 * (SELECT, NOOP, EXAMINE, STATUS...).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 8
#define MAX_SAMPLES 10000
#define BUF_SIZE (1 << 20)

struct conn {
	int fd;
	char *buf; /* BUF_SIZE */
	size_t len;
	unsigned tag;
};

static double
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int
conn_open(struct conn *c, int port)
{
	struct sockaddr_in sin;
	struct timeval tv = { 10, 0 };
	int one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->len = 0;
	c->tag = 0;
	c->buf = malloc(BUF_SIZE);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->buf == NULL || c->fd < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return -1;
	return 0;
}

/* Read until a whole line starting with prefix (at the start of a line)
 * is in; drop everything through it.  1 if its status is OK, 0 if not,
 * -1 on a read error, timeout or overflow. */
static int
read_through(struct conn *c, const char *prefix)
{
	size_t plen = strlen(prefix);

	for (;;) {
		size_t i = 0;

		while (i < c->len) {
			char *nl = memchr(c->buf + i, '\n', c->len - i);
			size_t end;

			if (nl == NULL)
				break;
			end = (size_t)(nl - c->buf) + 1;
			if (end - i >= plen && memcmp(c->buf + i, prefix, plen) == 0) {
				int ok = end - i >= plen + 2 &&
					 memcmp(c->buf + i + plen, "OK", 2) == 0;

				memmove(c->buf, c->buf + end, c->len - end);
				c->len -= end;
				return ok;
			}
			i = end;
		}
		if (c->len == BUF_SIZE)
			return -1;
		{
			ssize_t n = read(c->fd, c->buf + c->len, BUF_SIZE - c->len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			c->len += (size_t)n;
		}
	}
}

/* One command's round trip in us, or a negative number on failure. */
static double
command(struct conn *c, const char *cmd)
{
	char line[1024], prefix[32];
	double t0;
	int n, r;

	c->tag++;
	snprintf(prefix, sizeof(prefix), "r%u ", c->tag);
	n = snprintf(line, sizeof(line), "r%u %s\r\n", c->tag, cmd);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	t0 = now_us();
	if (write(c->fd, line, (size_t)n) != n)
		return -1;
	r = read_through(c, prefix);
	if (r != 1)
		return -1;
	return now_us() - t0;
}

static void
print_list(const char *name, const double *v, size_t n, int *first)
{
	size_t i;

	printf("%s\"", *first ? "{" : ", ");
	*first = 0;
	for (; *name != '\0'; name++) {
		if (*name == '"' || *name == '\\')
			putchar('\\');
		putchar(*name);
	}
	printf("\": [");
	for (i = 0; i < n; i++)
		printf("%s%.1f", i > 0 ? ", " : "", v[i]);
	printf("]");
}

int
main(int argc, char **argv)
{
	const char *cmds[MAX_CMDS], *user = NULL, *pass = NULL;
	static double samples[2 * MAX_CMDS + 1][MAX_SAMPLES];
	size_t nsamples[2 * MAX_CMDS + 1] = { 0 };
	int port = 0, port2 = 0, floor_port = 0, rounds = 5, reps = 25;
	int pause_ms = 1000, ncmds = 0, i, first = 1;
	struct conn conns[2], f;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--port2") == 0 && i + 1 < argc)
			port2 = atoi(argv[++i]);
		else if (strcmp(argv[i], "--floor-port") == 0 && i + 1 < argc)
			floor_port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--login") == 0 && i + 2 < argc) {
			user = argv[++i];
			pass = argv[++i];
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--pause-ms") == 0 && i + 1 < argc)
			pause_ms = atoi(argv[++i]);
		else if (argv[i][0] != '-' && ncmds < MAX_CMDS)
			cmds[ncmds++] = argv[i];
		else {
			fprintf(stderr, "satchel-rtt: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || ncmds == 0 || rounds <= 0 ||
	    reps <= 0 || (long)rounds * reps > MAX_SAMPLES || pause_ms < 0 ||
	    pause_ms > 60000 || floor_port < 0 || floor_port > 65535 ||
	    port2 < 0 || port2 > 65535) {
		fprintf(stderr, "usage: satchel-rtt --port P [--port2 P2] "
			"[--login USER PASS] "
			"[--floor-port F] [--rounds R] [--reps K] [--pause-ms M] "
			"CMD...\n");
		return 2;
	}
	for (i = 0; i < (port2 > 0 ? 2 : 1); i++) {
		int p = i == 0 ? port : port2;

		if (conn_open(&conns[i], p) < 0 ||
		    read_through(&conns[i], "* ") != 1) {
			fprintf(stderr, "satchel-rtt: no greeting on port %d\n", p);
			return 1;
		}
		if (user != NULL) {
			char login[512];

			snprintf(login, sizeof(login), "LOGIN %s %s", user, pass);
			if (command(&conns[i], login) < 0) {
				fprintf(stderr, "satchel-rtt: LOGIN failed on "
					"port %d\n", p);
				return 1;
			}
		}
	}
	if (floor_port > 0 &&
	    (conn_open(&f, floor_port) < 0 || read_through(&f, "* ") != 1)) {
		fprintf(stderr, "satchel-rtt: no floor server on %d\n", floor_port);
		return 1;
	}
	for (int r = 0; r < rounds; r++) {
		for (int x = 0; x < (port2 > 0 ? 2 : 1); x++) {
			/* with two servers, each goes first every other round */
			int which = port2 > 0 && r % 2 == 1 ? 1 - x : x;

			for (int k = 0; k < ncmds; k++) {
				size_t slot = (size_t)(which * MAX_CMDS + 1 + k);

				for (int j = 0; j < reps; j++) {
					double us = command(&conns[which], cmds[k]);

					if (us < 0) {
						fprintf(stderr, "satchel-rtt: %s "
							"failed\n", cmds[k]);
						return 1;
					}
					samples[slot][nsamples[slot]++] = us;
				}
			}
		}
		for (int j = 0; floor_port > 0 && j < reps; j++) {
			double us = command(&f, "NOOP");

			if (us < 0) {
				fprintf(stderr, "satchel-rtt: floor NOOP failed\n");
				return 1;
			}
			samples[0][nsamples[0]++] = us;
		}
		if (r + 1 < rounds)
			usleep((useconds_t)pause_ms * 1000);
	}
	for (int k = 0; k < ncmds; k++) {
		char name[300];

		print_list(cmds[k], samples[1 + k], nsamples[1 + k], &first);
		if (port2 > 0) {
			snprintf(name, sizeof(name), "2:%s", cmds[k]);
			print_list(name, samples[MAX_CMDS + 1 + k],
				   nsamples[MAX_CMDS + 1 + k], &first);
		}
	}
	if (floor_port > 0)
		print_list("floor", samples[0], nsamples[0], &first);
	printf("}\n");
	for (i = 0; i < (port2 > 0 ? 2 : 1); i++) {
		close(conns[i].fd);
		free(conns[i].buf);
	}
	if (floor_port > 0) {
		close(f.fd);
		free(f.buf);
	}
	return 0;
}
