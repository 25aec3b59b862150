/* net: listening sockets and address formatting; see net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "strnum.h"

int
net_parse_addr(const char *text, struct sockaddr_storage *ss_r,
	       socklen_t *len_r, const char **error_r)
{
	char host[64];
	const char *colon, *port_s;
	size_t hlen;
	uint64_t port;

	memset(ss_r, 0, sizeof(*ss_r));
	if (text[0] == '[') {
		const char *end = strchr(text, ']');

		if (end == NULL || end[1] != ':') {
			*error_r = "expected [IPv6]:port";
			return -1;
		}
		hlen = (size_t)(end - text - 1);
		if (hlen >= sizeof(host)) {
			*error_r = "address too long";
			return -1;
		}
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		port_s = end + 2;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*error_r = "expected host:port";
			return -1;
		}
		hlen = (size_t)(colon - text);
		if (hlen >= sizeof(host)) {
			*error_r = "address too long";
			return -1;
		}
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		port_s = colon + 1;
	}
	if (!str_to_u64z(port_s, 65535, &port)) {
		*error_r = "port must be a number 0..65535";
		return -1;
	}
	if (text[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss_r;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			*error_r = "invalid IPv6 address";
			return -1;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len_r = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss_r;

		if (strcmp(host, "*") == 0 || strcmp(host, "") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (strcmp(host, "localhost") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			*error_r = "invalid IPv4 address";
			return -1;
		}
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len_r = sizeof(*s4);
	}
	return 0;
}

int
net_listen(const struct sockaddr *sa, socklen_t len, int backlog)
{
	int fd, one = 1, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
net_get_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

void
net_set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

int
net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return net_get_port(&ss);
}

void
net_addr_str(const struct sockaddr *sa, char *out, size_t outsize)
{
	const void *addr;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		/* Show v4-mapped peers as plain IPv4 for logs and throttling. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			if (inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out,
				      (socklen_t)outsize) == NULL)
				snprintf(out, outsize, "?");
			return;
		}
		addr = &s6->sin6_addr;
	} else if (sa->sa_family == AF_INET) {
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	} else {
		snprintf(out, outsize, "local");
		return;
	}
	if (inet_ntop(sa->sa_family, addr, out, (socklen_t)outsize) == NULL)
		snprintf(out, outsize, "?");
}

void
net_addr_port_str(const struct sockaddr *sa, char *out, size_t outsize)
{
	char ip[INET6_ADDRSTRLEN];
	int port = net_get_port((const struct sockaddr_storage *)sa);

	net_addr_str(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET6)
		snprintf(out, outsize, "[%s]:%d", ip, port);
	else
		snprintf(out, outsize, "%s:%d", ip, port);
}

bool
net_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			return s6->sin6_addr.s6_addr[12] == 127;
	}
	return sa->sa_family == AF_UNIX;
}
