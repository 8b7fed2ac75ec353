/*-------------------------------------------------------------------------
 *
 * netguard.c
 *		Which network addresses a webhook may reach: the classification of
 *		IPv4 and IPv6 addresses (loopback, private, link-local, ...) behind
 *		the literal-host check of learning.create_webhook and the checks the
 *		relay's libcurl callbacks make on the address it is about to connect
 *		to or has connected to (both in http.c, which calls this file; this
 *		file calls nothing of the extension's).
 *
 * While learning.webhook_allow_private_networks is off (the default), a
 * webhook must be an address on the public internet: the relay runs as a
 * superuser inside the database server's network, so a webhook URL must not
 * be a way to reach the server's own loopback services, the cloud metadata
 * endpoint (169.254.169.254) or the private network behind it.  The
 * guarantee is given where it can be given, on the address actually
 * connected to after name resolution (a host name that resolves to
 * 127.0.0.1, or DNS rebinding, is caught there).  The literal check of
 * create_webhook only refuses obvious mistakes early, with a clear message;
 * it parses the host exactly as libcurl does (its URL parser normalises
 * 2130706433, 0x7f.1, 0177.0.0.1, 127.1 to 127.0.0.1) and then with
 * inet_aton(3) and inet_pton(3), which is what the resolver does with a
 * numeric host.
 *
 * Nothing here allocates or raises an error, so these functions are safe
 * inside libcurl callbacks.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/netguard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netguard.h"

/* One IPv4 range that webhooks may not reach; prefix in host byte order. */
typedef struct Ipv4Range
{
	uint32		prefix;
	int			bits;
	const char *what;
} Ipv4Range;

static const Ipv4Range forbidden_ipv4[] = {
	{0x00000000, 8, "unspecified"},		/* 0.0.0.0/8 "this network" */
	{0x0A000000, 8, "private"},			/* 10.0.0.0/8 */
	{0x64400000, 10, "shared (carrier-grade NAT)"},	/* 100.64.0.0/10 */
	{0x7F000000, 8, "loopback"},		/* 127.0.0.0/8 */
	{0xA9FE0000, 16, "link-local"},		/* 169.254.0.0/16, cloud metadata */
	{0xAC100000, 12, "private"},		/* 172.16.0.0/12 */
	{0xC0A80000, 16, "private"},		/* 192.168.0.0/16 */
	{0xE0000000, 4, "multicast"},		/* 224.0.0.0/4 */
	{0xF0000000, 4, "reserved or broadcast"},	/* 240.0.0.0/4, 255.255.255.255 */
};

static const char *ipv4_class(uint32 addr);
static const char *ipv6_class(const unsigned char *a);
static uint32 ipv4_at(const unsigned char *p);
static void netguard_describe(int family, const void *addr, const char *what,
							  char *out, size_t outlen);

/* ipv4_at reads four bytes in network order as a host-order address. */
static uint32
ipv4_at(const unsigned char *p)
{
	return ((uint32) p[0] << 24) | ((uint32) p[1] << 16) | ((uint32) p[2] << 8) | (uint32) p[3];
}

/* ipv4_class: NULL for an address webhooks may reach, else its kind. */
static const char *
ipv4_class(uint32 addr)
{
	for (int i = 0; i < lengthof(forbidden_ipv4); i++)
	{
		uint32		mask = ~(uint32) 0 << (32 - forbidden_ipv4[i].bits);

		if ((addr & mask) == forbidden_ipv4[i].prefix)
			return forbidden_ipv4[i].what;
	}
	return NULL;
}

/*
 * ipv6_class: NULL for an address webhooks may reach, else its kind.  IPv6
 * forms that carry an IPv4 address the kernel or a translator would reach
 * (IPv4-mapped, NAT64 well-known prefix, 6to4) are judged by that address.
 */
static const char *
ipv6_class(const unsigned char *a)
{
	static const unsigned char zero12[12] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

	/* ::ffff:a.b.c.d, ::ffff:0:a.b.c.d (SIIT), 64:ff9b::a.b.c.d */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, translated, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return ipv4_class(ipv4_at(a + 12));
	if (memcmp(a, zero12, 12) == 0)
	{
		/* ::/96: unspecified, loopback, or deprecated IPv4-compatible */
		if (ipv4_at(a + 12) == 0)
			return "unspecified";
		if (ipv4_at(a + 12) == 1)
			return "loopback";
		return "IPv4-compatible (deprecated)";
	}
	if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 && a[5] == 0x01)
		return "private";		/* 64:ff9b:1::/48, local-use NAT64 */
	if (a[0] == 0x20 && a[1] == 0x02)
		return ipv4_class(ipv4_at(a + 2));	/* 2002::/16, 6to4 */
	if ((a[0] & 0xfe) == 0xfc)
		return "private";		/* fc00::/7, unique local */
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "link-local";	/* fe80::/10 */
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
		return "private";		/* fec0::/10, deprecated site-local */
	if (a[0] == 0xff)
		return "multicast";		/* ff00::/8 */
	return NULL;
}

/*
 * netguard_describe writes "<address> (<kind> address)" into out, for the
 * delivery log and error messages.
 */
static void
netguard_describe(int family, const void *addr, const char *what, char *out, size_t outlen)
{
	char		text[INET6_ADDRSTRLEN];

	if (inet_ntop(family, addr, text, sizeof(text)) == NULL)
		strlcpy(text, "?", sizeof(text));
	snprintf(out, outlen, "%s (%s address)", text, what);
}

/*
 * learning_netguard_sockaddr_refused: true when sa (the address libcurl is
 * about to connect to) is one webhooks may not reach; out then describes it.
 * An address family other than IPv4 and IPv6 is refused too.
 */
bool
learning_netguard_sockaddr_refused(const struct sockaddr *sa, char *out, size_t outlen)
{
	const char *what;

	if (sa->sa_family == AF_INET)
	{
		const struct sockaddr_in *in4 = (const struct sockaddr_in *) sa;

		what = ipv4_class(ntohl(in4->sin_addr.s_addr));
		if (what != NULL)
			netguard_describe(AF_INET, &in4->sin_addr, what, out, outlen);
		return what != NULL;
	}
	if (sa->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

		what = ipv6_class(in6->sin6_addr.s6_addr);
		if (what != NULL)
			netguard_describe(AF_INET6, &in6->sin6_addr, what, out, outlen);
		return what != NULL;
	}
	snprintf(out, outlen, "an address of family %d", (int) sa->sa_family);
	return true;
}

/*
 * learning_netguard_ip_refused: the same for a numeric address as text (the
 * peer address libcurl reports for a connection, new or reused).  Text that
 * is not an address is refused.
 */
bool
learning_netguard_ip_refused(const char *ip, char *out, size_t outlen)
{
	struct in_addr a4;
	struct in6_addr a6;
	const char *what;

	if (ip != NULL && inet_pton(AF_INET, ip, &a4) == 1)
	{
		what = ipv4_class(ntohl(a4.s_addr));
		if (what != NULL)
			netguard_describe(AF_INET, &a4, what, out, outlen);
		return what != NULL;
	}
	if (ip != NULL && inet_pton(AF_INET6, ip, &a6) == 1)
	{
		what = ipv6_class(a6.s6_addr);
		if (what != NULL)
			netguard_describe(AF_INET6, &a6, what, out, outlen);
		return what != NULL;
	}
	snprintf(out, outlen, "peer address \"%s\" (not an IP address)", ip ? ip : "");
	return true;
}

/*
 * learning_netguard_host_refused: true when host, a URL host as libcurl's
 * URL parser returns it (IPv6 in brackets, IPv4 already in dotted form), is
 * a literal address webhooks may not reach or a name that always means this
 * machine ("localhost", "*.localhost", RFC 6761); out then says why.  Any
 * other name is left to the check at connect time.
 */
bool
learning_netguard_host_refused(const char *host, char *out, size_t outlen)
{
	char		h[256];
	size_t		n = strlen(host);
	char	   *zone;
	struct in_addr a4;
	struct in6_addr a6;
	const char *what;

	if (n == 0 || n >= sizeof(h))
		return false;
	if (host[0] == '[' && host[n - 1] == ']')
	{
		memcpy(h, host + 1, n - 2);
		h[n - 2] = '\0';
		if ((zone = strchr(h, '%')) != NULL)
			*zone = '\0';
		if (inet_pton(AF_INET6, h, &a6) != 1)
			return false;		/* libcurl refuses it when connecting */
		what = ipv6_class(a6.s6_addr);
		if (what != NULL)
			netguard_describe(AF_INET6, &a6, what, out, outlen);
		return what != NULL;
	}

	/* one trailing dot is the same name, fully qualified */
	strlcpy(h, host, sizeof(h));
	if (n > 1 && h[n - 1] == '.')
		h[n - 1] = '\0';
	if (pg_strcasecmp(h, "localhost") == 0 ||
		(strlen(h) > 10 && pg_strcasecmp(h + strlen(h) - 10, ".localhost") == 0))
	{
		snprintf(out, outlen, "\"%s\" (always this machine: a loopback address)", host);
		return true;
	}
	/* inet_aton: every IPv4 spelling the resolver accepts (hex, octal, short) */
	if (inet_aton(h, &a4) == 0)
		return false;
	what = ipv4_class(ntohl(a4.s_addr));
	if (what != NULL)
		netguard_describe(AF_INET, &a4, what, out, outlen);
	return what != NULL;
}
