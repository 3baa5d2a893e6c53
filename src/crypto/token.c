/* token.c: PROTOCOL.md's token syntax and the token_hint (crypto.h). */
#include <string.h>

#include "slate/crypto.h"

bool slate_token_syntax_ok(const char *t, size_t n)
{
    if (n == 0 || n > SLATE_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

void slate_token_hint(const char *t, size_t n, char out[SLATE_TOKEN_HINT_MAX])
{
    size_t take = n < SLATE_TOKEN_HINT_MAX - 1 ? n : SLATE_TOKEN_HINT_MAX - 1;
    if (take)
        memcpy(out, t + n - take, take);
    out[take] = '\0';
}
