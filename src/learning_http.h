/*-------------------------------------------------------------------------
 *
 * learning_http.h
 *		The libcurl wrapper of the event relay (http.c).
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/learning_http.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEARNING_HTTP_H
#define LEARNING_HTTP_H

#include <curl/curl.h>

/* Longest webhook URL accepted. */
#define LEARNING_URL_MAXLEN			2048

/* Response bytes read before a transfer is stopped (the body is discarded). */
#define LEARNING_HTTP_MAX_RESPONSE	(64 * 1024)

/*
 * One POST in flight.  The relay allocates it (and url and body) in its own
 * memory context; easy and headers are libcurl's malloc'd memory, freed by
 * learning_http_post_cleanup.
 */
typedef struct LearningHttpPost
{
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *url;
	char	   *body;
	size_t		body_len;
	size_t		response_bytes;
	bool		response_truncated;
	char		error[CURL_ERROR_SIZE];
	void	   *owner;			/* the caller's own bookkeeping */
	/* set by the caller before learning_http_post_start */
	bool		trusted;		/* destination set by a superuser (the SSE publisher) */
	/* set by learning_http_post_start and the address checks */
	bool		guarded;		/* private networks refused for this POST */
	bool		permanent;		/* failed for a reason no retry can fix */
	int			n_allowed;		/* connections opened */
	int			n_refused;		/* connections refused by the address check */
	char		refused[160];	/* the first refused address, described */
} LearningHttpPost;

extern void learning_http_init(void);
extern const char *learning_http_url_problem(const char *url);
extern void learning_hmac_sha256_hex(const char *key, size_t keylen,
									 const char *data, size_t datalen, char *out);
extern bool learning_http_post_start(LearningHttpPost *post, struct curl_slist *headers,
									 long connect_timeout_ms, long timeout_ms);
extern void learning_http_post_cleanup(LearningHttpPost *post);
extern bool learning_http_failure(const LearningHttpPost *post, CURLcode rc, char *buf, size_t len);

#endif							/* LEARNING_HTTP_H */
