/*-------------------------------------------------------------------------
 *
 * http.c
 *		The libcurl wrapper of the event relay: process-wide
 *		initialisation, URL checks (scheme and host; literal private
 *		addresses, classified by netguard.c), one configured easy handle per
 *		POST with the private-network guard, a bounded response reader, and
 *		the HMAC-SHA256 of a webhook signature.
 *
 * Rules kept here once for every caller:
 *	- curl_global_init runs once per process that uses curl, never in the
 *	  postmaster (it is called lazily, from the relay worker or a backend).
 *	- Every handle has CURLOPT_NOSIGNAL (no SIGALRM against PostgreSQL's own
 *	  timers), speaks only http and https (redirects are never followed, and
 *	  the redirect protocols are restricted too), and has connect and total
 *	  timeouts.
 *	- libcurl keeps its default malloc allocators: its memory is freed with
 *	  curl_easy_cleanup, curl_slist_free_all and curl_url_cleanup, never by a
 *	  memory context reset.
 *	- A response body is never stored: the write callback counts bytes and
 *	  stops the transfer past a bound.
 *	- A webhook POST (not the SSE publisher, whose URL only a superuser sets)
 *	  is guarded while learning.webhook_allow_private_networks is off: the
 *	  open-socket callback refuses a loopback, private, link-local, ...
 *	  address before connecting (the address after name resolution, so a
 *	  name that resolves to 127.0.0.1 or rebinds is caught), and the
 *	  pre-request callback refuses to send over a connection whose peer is
 *	  such an address (a connection kept alive and reused by libcurl, which
 *	  opens no socket).  Proxies from the environment are not used for a
 *	  guarded POST: the address a proxy connects to cannot be checked.
 *	- A failure no retry can fix (refused address, scheme other than http(s),
 *	  malformed URL) is told apart from one worth retrying.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "learning.h"
#include "learning_http.h"
#include "netguard.h"

PG_FUNCTION_INFO_V1(learning_check_webhook_url_sql);
PGDLLEXPORT Datum learning_check_webhook_url_sql(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(learning_check_webhook_destination_sql);
PGDLLEXPORT Datum learning_check_webhook_destination_sql(PG_FUNCTION_ARGS);

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *userdata);
static curl_socket_t http_opensocket_cb(void *clientp, curlsocktype purpose,
										struct curl_sockaddr *address);
#if LIBCURL_VERSION_NUM >= 0x075000	/* 7.80: CURLOPT_PREREQFUNCTION */
static int	http_prereq_cb(void *clientp, char *conn_primary_ip, char *conn_local_ip,
						   int conn_primary_port, int conn_local_port);
#endif
static void http_note_refused(LearningHttpPost *post, const char *why);

static bool curl_initialised = false;

/*
 * learning_http_init runs curl_global_init once in this process.  Raises an
 * error when libcurl cannot start (the caller's worker restarts later).
 */
void
learning_http_init(void)
{
	CURLcode	rc;

	if (curl_initialised)
		return;
	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl: %s", curl_easy_strerror(rc))));
	curl_initialised = true;
}

/*
 * learning_http_url_problem returns NULL when url is an absolute http or https
 * URL with a host, as libcurl parses it, or a static description of what is
 * wrong with it.
 */
const char *
learning_http_url_problem(const char *url)
{
	CURLU	   *h;
	char	   *scheme = NULL;
	char	   *host = NULL;
	const char *problem = NULL;

	for (const char *c = url; *c; c++)
		if ((unsigned char) *c <= ' ' || *c == 0x7f)
			return "it contains a space or a control character";

	learning_http_init();
	h = curl_url();
	if (h == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		problem = "it is not a valid absolute URL";
	else if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 (pg_strcasecmp(scheme, "http") != 0 && pg_strcasecmp(scheme, "https") != 0))
		problem = "only http and https URLs are allowed";
	else if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
		problem = "it has no host";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(h);
	return problem;
}

/*
 * learning_check_webhook_url_sql: learning.check_webhook_url(url) returns url,
 * or raises 22023 naming it unless it is an http or https URL with a host.
 */
Datum
learning_check_webhook_url_sql(PG_FUNCTION_ARGS)
{
	text	   *arg;
	char	   *url;
	const char *problem;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("url must not be null")));
	arg = PG_GETARG_TEXT_PP(0);
	url = text_to_cstring(arg);
	if (strlen(url) > LEARNING_URL_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook url: it is longer than %d characters", LEARNING_URL_MAXLEN)));
	problem = learning_http_url_problem(url);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook url \"%s\": %s", url, problem),
				 errhint("Give an absolute http:// or https:// URL, e.g. https://example.com/hooks/learning.")));
	PG_RETURN_TEXT_P(arg);
}

/*
 * learning_check_webhook_destination_sql: learning.check_webhook_destination(url)
 * returns url, or raises 22023 when its host is a literal loopback, private,
 * link-local, unspecified, multicast or reserved address (in any spelling) or
 * "localhost", unless learning.webhook_allow_private_networks is on.  Call it
 * after learning.check_webhook_url: a URL libcurl cannot parse passes here.
 */
Datum
learning_check_webhook_destination_sql(PG_FUNCTION_ARGS)
{
	text	   *arg;
	char	   *url;
	CURLU	   *h;
	char	   *host = NULL;
	char		why[INET6_ADDRSTRLEN + 300];
	bool		refused = false;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("url must not be null")));
	arg = PG_GETARG_TEXT_PP(0);
	if (learning_webhook_allow_private_networks)
		PG_RETURN_TEXT_P(arg);

	url = text_to_cstring(arg);
	learning_http_init();
	h = curl_url();
	if (h == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != NULL)
		refused = learning_netguard_host_refused(host, why, sizeof(why));
	curl_free(host);
	curl_url_cleanup(h);

	if (refused)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webhook url \"%s\" points to a private network", url),
				 errdetail("Its host is %s.", why),
				 errhint("Webhooks may not reach loopback, private, link-local, unspecified, multicast or "
						 "reserved addresses while learning.webhook_allow_private_networks is off; "
						 "a superuser may turn it on.")));
	PG_RETURN_TEXT_P(arg);
}

/*
 * learning_hmac_sha256_hex writes into out (65 bytes) the lower-case hex
 * HMAC-SHA256 of data under key.  Needs a resource owner (call it inside a
 * transaction): PostgreSQL's OpenSSL HMAC registers itself with one.
 */
void
learning_hmac_sha256_hex(const char *key, size_t keylen, const char *data, size_t datalen,
						 char *out)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	static const char hexdigits[] = "0123456789abcdef";
	int			i;

	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) key, keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) data, datalen) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *err = pstrdup(pg_hmac_error(ctx));

		pg_hmac_free(ctx);
		elog(ERROR, "could not compute HMAC-SHA256: %s", err);
	}
	pg_hmac_free(ctx);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		out[2 * i] = hexdigits[digest[i] >> 4];
		out[2 * i + 1] = hexdigits[digest[i] & 0x0f];
	}
	out[2 * PG_SHA256_DIGEST_LENGTH] = '\0';
}

/*
 * http_write_cb counts the response bytes without keeping them; past the
 * bound it returns 0, which makes libcurl end the transfer with
 * CURLE_WRITE_ERROR (the HTTP status already received is kept).
 */
static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
	LearningHttpPost *post = (LearningHttpPost *) userdata;
	size_t		n = size * nmemb;

	post->response_bytes += n;
	if (post->response_bytes > LEARNING_HTTP_MAX_RESPONSE)
	{
		post->response_truncated = true;
		return 0;
	}
	return n;
}

/* http_note_refused remembers the first address the guard refused. */
static void
http_note_refused(LearningHttpPost *post, const char *why)
{
	if (post->n_refused++ == 0)
		strlcpy(post->refused, why, sizeof(post->refused));
}

/*
 * http_opensocket_cb: libcurl is about to connect to address (resolved).
 * Refuses (CURL_SOCKET_BAD: libcurl tries the next address, then fails with
 * CURLE_COULDNT_CONNECT) an address webhooks may not reach; otherwise opens
 * the socket as libcurl itself would.  Runs inside libcurl: no palloc, no
 * ereport.
 */
static curl_socket_t
http_opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	LearningHttpPost *post = (LearningHttpPost *) clientp;
	char		why[sizeof(post->refused)];

	if (learning_netguard_sockaddr_refused(&address->addr, why, sizeof(why)))
	{
		http_note_refused(post, why);
		return CURL_SOCKET_BAD;
	}
	post->n_allowed++;
	return socket(address->family, address->socktype, address->protocol);
}

#if LIBCURL_VERSION_NUM >= 0x075000
/*
 * http_prereq_cb: the request is about to be sent over a connection to
 * conn_primary_ip, new or reused.  A reused connection opened no socket, so
 * this is where one opened by the (unguarded) SSE publisher, or while the
 * setting was on, is refused.  No palloc, no ereport.
 */
static int
http_prereq_cb(void *clientp, char *conn_primary_ip, char *conn_local_ip,
			   int conn_primary_port, int conn_local_port)
{
	LearningHttpPost *post = (LearningHttpPost *) clientp;
	char		why[sizeof(post->refused)];

	if (learning_netguard_ip_refused(conn_primary_ip, why, sizeof(why)))
	{
		http_note_refused(post, why);
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}
#endif

/*
 * learning_http_post_start configures post->easy for one POST of post->body
 * to post->url with the given extra headers (a curl_slist the post now owns).
 * Returns false, with post->error set, when libcurl refuses an option.
 */
bool
learning_http_post_start(LearningHttpPost *post, struct curl_slist *headers,
						 long connect_timeout_ms, long timeout_ms)
{
	CURL	   *e;
	CURLcode	rc = CURLE_OK;

	learning_http_init();
	post->headers = headers;
	post->error[0] = '\0';
	post->response_bytes = 0;
	post->response_truncated = false;
	post->n_allowed = post->n_refused = 0;
	post->refused[0] = '\0';
	post->permanent = false;
	/* read at delivery time: a reload takes effect with the next POST */
	post->guarded = !post->trusted && !learning_webhook_allow_private_networks;
	if (!post->trusted)
	{
		/* a row written by hand may hold anything; no retry would make it valid */
		const char *problem = learning_http_url_problem(post->url);

		if (problem != NULL)
		{
			snprintf(post->error, sizeof(post->error), "invalid webhook url: %s", problem);
			post->permanent = true;
			return false;
		}
	}
	post->easy = e = curl_easy_init();
	if (e == NULL)
	{
		strlcpy(post->error, "curl_easy_init failed", sizeof(post->error));
		return false;
	}

#define SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SETOPT(CURLOPT_URL, post->url);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500	/* 7.85: the _STR options; the others are deprecated */
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SETOPT(CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
	SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
	SETOPT(CURLOPT_POST, 1L);
	SETOPT(CURLOPT_POSTFIELDS, post->body);
	SETOPT(CURLOPT_POSTFIELDSIZE, (long) post->body_len);
	SETOPT(CURLOPT_HTTPHEADER, headers);
	SETOPT(CURLOPT_USERAGENT, "learning-relay/" EXTVERSION);
	SETOPT(CURLOPT_WRITEFUNCTION, http_write_cb);
	SETOPT(CURLOPT_WRITEDATA, post);
	SETOPT(CURLOPT_ERRORBUFFER, post->error);
	SETOPT(CURLOPT_PRIVATE, post);
	SETOPT(CURLOPT_MAXFILESIZE, (long) LEARNING_HTTP_MAX_RESPONSE);
	if (post->guarded)
	{
		SETOPT(CURLOPT_OPENSOCKETFUNCTION, http_opensocket_cb);
		SETOPT(CURLOPT_OPENSOCKETDATA, post);
		SETOPT(CURLOPT_PROXY, "");
#if LIBCURL_VERSION_NUM >= 0x075000
		SETOPT(CURLOPT_PREREQFUNCTION, http_prereq_cb);
		SETOPT(CURLOPT_PREREQDATA, post);
#else
		SETOPT(CURLOPT_FRESH_CONNECT, 1L);
#endif
	}
#undef SETOPT

	if (rc != CURLE_OK)
	{
		snprintf(post->error, sizeof(post->error), "curl_easy_setopt: %s", curl_easy_strerror(rc));
		return false;
	}
	return true;
}

/*
 * learning_http_failure describes into buf why the transfer of post ended
 * with rc (not a 2xx, no HTTP answer) and returns whether a retry may help.
 * No retry helps when the guard refused every address (libcurl says
 * CURLE_COULDNT_CONNECT, or CURLE_ABORTED_BY_CALLBACK for a reused
 * connection), when the scheme is not http(s) or when the URL is malformed.
 */
bool
learning_http_failure(const LearningHttpPost *post, CURLcode rc, char *buf, size_t len)
{
	const char *curl_says = post->error[0] ? post->error : curl_easy_strerror(rc);

	if (post->n_refused > 0 &&
		((rc == CURLE_COULDNT_CONNECT && post->n_allowed == 0) || rc == CURLE_ABORTED_BY_CALLBACK))
	{
		snprintf(buf, len, "refused to connect to %s: learning.webhook_allow_private_networks is off",
				 post->refused);
		return false;
	}
	if (post->n_refused > 0)	/* some addresses refused, the others failed */
		snprintf(buf, len, "%s (also refused: %s)", curl_says, post->refused);
	else
		snprintf(buf, len, "%s", curl_says);
	return !(post->permanent || rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT);
}

/*
 * learning_http_post_cleanup frees what libcurl allocated for post (the easy
 * handle and the header list); the caller frees the post itself.
 */
void
learning_http_post_cleanup(LearningHttpPost *post)
{
	if (post->easy != NULL)
		curl_easy_cleanup(post->easy);
	post->easy = NULL;
	if (post->headers != NULL)
		curl_slist_free_all(post->headers);
	post->headers = NULL;
}
