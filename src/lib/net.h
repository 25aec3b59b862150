/* net: listening sockets and address text.  Non-goal: outgoing
 * connections. */
#ifndef NET_H
#define NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* "127.0.0.1:143", "[::1]:143", "*:143" (all IPv4 and IPv6 via "[::]"),
 * "localhost:143" (127.0.0.1).  0 ok, -1 with *error_r. */
int net_parse_addr(const char *text, struct sockaddr_storage *ss_r,
		   socklen_t *len_r, const char **error_r);

/* socket + SO_REUSEADDR + SO_REUSEPORT (+ IPV6_V6ONLY) + bind + listen,
 * non-blocking and close-on-exec.  fd, or -1 with errno. */
int net_listen(const struct sockaddr *sa, socklen_t len, int backlog);

/* The port a socket is bound to. */
int net_local_port(int fd);
void net_set_port(struct sockaddr_storage *ss, int port);
int net_get_port(const struct sockaddr_storage *ss);

/* Numeric address text (no port) into out; "?" if unknown. */
void net_addr_str(const struct sockaddr *sa, char *out, size_t outsize);
/* "ip:port" or "[ip]:port". */
void net_addr_port_str(const struct sockaddr *sa, char *out, size_t outsize);
bool net_is_loopback(const struct sockaddr *sa);

#endif
