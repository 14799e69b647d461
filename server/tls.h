/* TLS server contexts (OpenSSL) for LMTP STARTTLS and, later, HTTPS.
 * Created at start-up from PEM files; shared read-only by a worker's
 * sessions on its loop. */
#ifndef KR_TLS_H
#define KR_TLS_H

#include <openssl/ssl.h>

#include "lib/err.h"

/* TLS 1.2 or newer, the certificate chain and key checked against each
 * other. NULL + err_r naming the file on failure. */
SSL_CTX *kr_tls_server_create(const char *cert_file, const char *key_file,
			      struct kr_err *err_r);
void kr_tls_destroy(SSL_CTX **ctx);

#endif
