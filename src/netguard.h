/*-------------------------------------------------------------------------
 *
 * netguard.h
 *		The addresses webhooks may not reach (netguard.c).
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/netguard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEARNING_NETGUARD_H
#define LEARNING_NETGUARD_H

struct sockaddr;

/*
 * Each returns true when the address is one webhooks may not reach while
 * learning.webhook_allow_private_networks is off, and then writes into out
 * a description such as "127.0.0.1 (loopback address)".
 */
extern bool learning_netguard_sockaddr_refused(const struct sockaddr *sa, char *out, size_t outlen);
extern bool learning_netguard_ip_refused(const char *ip, char *out, size_t outlen);
extern bool learning_netguard_host_refused(const char *host, char *out, size_t outlen);

#endif							/* LEARNING_NETGUARD_H */
