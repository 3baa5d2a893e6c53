/* crypto_int.h: what the files of src/crypto/ share and nobody else sees. */
#ifndef SLATE_CRYPTO_INT_H
#define SLATE_CRYPTO_INT_H

/* sodium_init(), aborting with a fixed line on stderr when it fails: every
 * public entry point calls it, so a caller that skipped slate_crypto_init()
 * still gets an initialised library (and never a silent weak RNG). */
void slate__crypto_ready(void);

#endif
