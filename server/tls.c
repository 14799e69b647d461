/* TLS server contexts. */
#include "server/tls.h"

#include <openssl/err.h>

static int
tls_fail(SSL_CTX *ctx, struct kr_err *err_r, const char *what, const char *file)
{
	char reason[160];

	ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return kr_err_set(err_r, KR_ERR_PERMANENT, "tls: %s %s: %s", what, file,
			  reason);
}

SSL_CTX *
kr_tls_server_create(const char *cert_file, const char *key_file,
		     struct kr_err *err_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		kr_err_set(err_r, KR_ERR_INTERNAL, "tls: SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Sessions are short and one-off (Postfix's LMTP client caches
	 * nothing useful across workers): skip the session cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_fail(ctx, err_r, "certificate", cert_file);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		tls_fail(ctx, err_r, "key", key_file);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail(ctx, err_r, "key does not match certificate",
			 key_file);
		return NULL;
	}
	return ctx;
}

void
kr_tls_destroy(SSL_CTX **ctx)
{
	SSL_CTX_free(*ctx);
	*ctx = NULL;
}
