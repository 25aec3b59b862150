/* satchel-floor: the round trip of a server that does nothing, for
 * bench/store.py.
 *
 * Listens on 127.0.0.1:PORT, serves one connection at a time: a greeting,
 * then for every line "TAG ..." the line "TAG OK done".  A command's round
 * trip against it is what the benchmark's client and the loopback cost by
 * themselves (two wakeups, a read and a write each side); what a real
 * server adds on top is its own work.  Bounded: --max-conns connections,
 * each line at most 64 KB (longer input closes the connection).
 *
 * Usage: satchel-floor PORT [MAX_CONNS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Answer every line of one connection until it closes. */
static void
serve(int fd)
{
	static char buf[LINE_MAX_BYTES];
	char out[128];
	size_t have = 0;

	if (write_all(fd, "* OK floor ready\r\n", 18) < 0)
		return;
	for (;;) {
		char *nl;
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		have += (size_t)n;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - buf) + 1;
			char *sp = memchr(buf, ' ', len);
			size_t taglen = sp != NULL ? (size_t)(sp - buf) : 1;
			int k;

			if (taglen > 64)
				taglen = 64;
			k = snprintf(out, sizeof(out), "%.*s OK done\r\n",
				     (int)taglen, buf);
			if (k < 0 || (size_t)k >= sizeof(out) ||
			    write_all(fd, out, (size_t)k) < 0)
				return;
			memmove(buf, buf + len, have - len);
			have -= len;
		}
		if (have == sizeof(buf))
			return; /* a line longer than the buffer */
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	long port, max_conns = argc > 2 ? strtol(argv[2], NULL, 10) : 16;
	int ls, one = 1;

	if (argc < 2 || (port = strtol(argv[1], NULL, 10)) <= 0 ||
	    port > 65535 || max_conns <= 0) {
		fprintf(stderr, "usage: satchel-floor PORT [MAX_CONNS]\n");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(ls, 8) < 0) {
		perror("satchel-floor: listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (long i = 0; i < max_conns; i++) {
		int fd = accept(ls, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("satchel-floor: accept");
			return 1;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		serve(fd);
		close(fd);
	}
	return 0;
}
