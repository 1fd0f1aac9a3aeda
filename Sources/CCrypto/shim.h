#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

// One-shot SHA-256 through the EVP interface (uses SHA-NI / AVX2 code paths where present).
// Returns 1 on success.
static inline int fssam_sha256(const void *data, size_t length, uint8_t out[32]) {
    unsigned int outLength = 32;
    return EVP_Digest(data, length, out, &outLength, EVP_sha256(), NULL);
}

// Streaming SHA-256 for inputs that arrive in parts (the cache key preimage is built in one
// buffer, but file digests are streamed).
static inline EVP_MD_CTX *fssam_sha256_begin(void) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) { EVP_MD_CTX_free(ctx); return NULL; }
    return ctx;
}
static inline int fssam_sha256_update(EVP_MD_CTX *ctx, const void *data, size_t length) {
    return EVP_DigestUpdate(ctx, data, length);
}
static inline int fssam_sha256_end(EVP_MD_CTX *ctx, uint8_t out[32]) {
    unsigned int outLength = 32;
    int ok = EVP_DigestFinal_ex(ctx, out, &outLength);
    EVP_MD_CTX_free(ctx);
    return ok;
}
