#ifndef DMDESK_COPENSSL_SHIM_H
#define DMDESK_COPENSSL_SHIM_H
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

static inline int dm_hmac_sha256(const void *key, int key_len, const unsigned char *data, size_t len, unsigned char out[32]) {
    unsigned int out_len = 32;
    return HMAC(EVP_sha256(), key, key_len, data, len, out, &out_len) != NULL ? 1 : 0;
}
static inline int dm_sha256(const void *data, size_t len, unsigned char out[32]) {
    unsigned int out_len = 32;
    return EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL);
}
static inline int dm_memcmp(const void *a, const void *b, size_t len) { return CRYPTO_memcmp(a, b, len); }
static inline int dm_random_bytes(unsigned char *buf, int len) { return RAND_bytes(buf, len); }
#endif
