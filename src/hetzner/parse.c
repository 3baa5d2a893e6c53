/*
 * parse.c: the streaming parsers of Hetzner list pages, and of the records
 * store_json.c wrote, on yajl's callback API.
 *
 * Data flow: bytes -> yajl lexer -> our callbacks -> a scratch record ->
 * (object complete) -> one append to the inventory.
 *
 * The position in the document is a fixed stack of frames (no recursion, no
 * allocation per level): each frame is a context (which object or array we
 * are in: a server, its public_net, a firewall rule, ...) and a slot (what
 * the next value means: the server's name, a label value, an element of
 * source_ips, ...).  A map key is recognized once (key_of: a switch on its
 * length, then fixed-size compares) and the context's row of key_slots gives
 * the slot; an array's slot is fixed when it opens.  Every value callback
 * switches on the slot and either keeps the value, opens a new context, or
 * fails.  A container under an unknown key gets no frame: p->skip counts the
 * levels we are inside it, and every callback returns at once while it is
 * non-zero (no key lookups, no frames, only the depth limit).
 *
 * Strings we keep are copied into inv->arena when they arrive (the arena
 * never moves; a page's short strings are packed into small chunks of it,
 * and plain ASCII, nearly every string, is copied without the cleaning
 * pass); arrays that belong to a record (labels, firewall bindings,
 * rules and their CIDRs, server ids) grow in parser-owned vectors that are
 * reused for every record and page, and are copied into the arena when the
 * record's object ends.  Only then is the record appended, because
 * slate_inventory_add_* may move the inventory's arrays.
 *
 * The same engine reads back store_json.c's output (MODE_STORED): the
 * stored shapes are a few more contexts and key tables, and every failure is
 * SLATE_E_INTERNAL there.
 *
 * Rejected: yajl_tree (whole document in memory, leaks on error paths); a
 * generic JSON path matcher (slower and harder to read than the tables).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "hetzner_int.h"
#include "slate/alloc.h"

/* ---- contexts, slots and key tables ------------------------------------- */

/* Where we are: the kind of container of the top frame. */
enum ctx {
    C_ROOT,          /* before the top-level value */
    C_TOP,           /* the page object */
    C_ITEMS,         /* the collection array */
    C_META,
    C_PAGINATION,
    C_SERVER,
    C_LOCATION,
    C_STYPE,
    C_PUBNET,
    C_IPV4,
    C_IPV6,
    C_SRV_FWS,       /* public_net.firewalls */
    C_SRV_FW,        /* one {id, status} */
    C_LABELS,
    C_KEY,
    C_FW,
    C_RULES,
    C_RULE,
    C_SRC_IPS,
    C_DST_IPS,
    C_APPLIED,       /* applied_to */
    C_AT_ENTRY,
    C_AT_SERVER,     /* applied_to[].server */
    C_RESOURCES,     /* applied_to[].applied_to_resources */
    C_RESOURCE,
    C_RES_SERVER,
    C_ST_SERVER,     /* stored asset JSON */
    C_ST_KEY,        /* stored SSH key JSON */
    C_ST_FW,         /* stored firewall JSON */
    C_ST_SERVERS,    /* stored firewall's "servers" */
    C__COUNT
};

/* What the next value means. */
enum slot {
    S_SKIP,
    S_TOP,
    S_COLL,
    S_META,
    S_PAGINATION,
    S_PG_PAGE,
    S_PG_PER_PAGE,
    S_PG_PREV,
    S_PG_NEXT,
    S_PG_LAST,
    S_PG_TOTAL,
    S_ITEM,
    S_ST_ROOT,
    S_ID,
    S_NAME,
    S_STATUS,
    S_CREATED,
    S_LABELS,
    S_LABEL_KEY,
    S_LABEL_VALUE,
    S_LOCATION,
    S_LOCATION_NAME,
    S_STYPE,
    S_STYPE_NAME,
    S_PUBNET,
    S_IPV4,
    S_IPV4_IP,
    S_IPV6,
    S_IPV6_IP,
    S_SRV_FWS,
    S_SRV_FW,
    S_FWB_ID,
    S_FWB_STATUS,
    S_FINGERPRINT,
    S_PUBLIC_KEY,
    S_SHA256,
    S_KEY_TYPE,
    S_BITS,
    S_RULES,
    S_RULE,
    S_DIRECTION,
    S_PROTOCOL,
    S_PORT,
    S_DESCRIPTION,
    S_SRC_IPS,
    S_SRC_IP,
    S_DST_IPS,
    S_DST_IP,
    S_APPLIED,
    S_AT_ENTRY,
    S_AT_TYPE,
    S_AT_SERVER,
    S_AT_SERVER_ID,
    S_RESOURCES,
    S_RESOURCE,
    S_RES_TYPE,
    S_RES_SERVER,
    S_RES_SERVER_ID,
    S_ST_SERVERS,
    S_ST_SERVER_ID,
    S__COUNT
};

/* For error sentences: the value a slot reads, and what it must be. */
static const struct {
    const char *name;
    const char *expect;
} slot_info[S__COUNT] = {
    [S_SKIP] = {"a value", "anything"},
    [S_TOP] = {"the body", "an object"},
    [S_COLL] = {"the collection", "an array"},
    [S_META] = {"\"meta\"", "an object or null"},
    [S_PAGINATION] = {"\"meta.pagination\"", "an object or null"},
    [S_PG_PAGE] = {"\"pagination.page\"", "an integer or null"},
    [S_PG_PER_PAGE] = {"\"pagination.per_page\"", "an integer or null"},
    [S_PG_PREV] = {"\"pagination.previous_page\"", "an integer or null"},
    [S_PG_NEXT] = {"\"pagination.next_page\"", "an integer or null"},
    [S_PG_LAST] = {"\"pagination.last_page\"", "an integer or null"},
    [S_PG_TOTAL] = {"\"pagination.total_entries\"", "an integer or null"},
    [S_ITEM] = {"an item", "an object"},
    [S_ST_ROOT] = {"the record", "an object"},
    [S_ID] = {"\"id\"", "an integer"},
    [S_NAME] = {"\"name\"", "a string or null"},
    [S_STATUS] = {"\"status\"", "a string or null"},
    [S_CREATED] = {"\"created\"", "a string or null"},
    [S_LABELS] = {"\"labels\"", "an object or null"},
    [S_LABEL_KEY] = {"a label key", "a string"},
    [S_LABEL_VALUE] = {"a label value", "a string"},
    [S_LOCATION] = {"\"location\"", "an object or null"},
    [S_LOCATION_NAME] = {"\"location.name\"", "a string or null"},
    [S_STYPE] = {"\"server_type\"", "an object or null"},
    [S_STYPE_NAME] = {"\"server_type.name\"", "a string or null"},
    [S_PUBNET] = {"\"public_net\"", "an object or null"},
    [S_IPV4] = {"\"public_net.ipv4\"", "an object or null"},
    [S_IPV4_IP] = {"\"ipv4.ip\"", "a string or null"},
    [S_IPV6] = {"\"public_net.ipv6\"", "an object or null"},
    [S_IPV6_IP] = {"\"ipv6.ip\"", "a string or null"},
    [S_SRV_FWS] = {"\"public_net.firewalls\"", "an array or null"},
    [S_SRV_FW] = {"a firewall of the server", "an object"},
    [S_FWB_ID] = {"a server firewall's \"id\"", "an integer"},
    [S_FWB_STATUS] = {"a server firewall's \"status\"", "a string or null"},
    [S_FINGERPRINT] = {"\"fingerprint\"", "a string or null"},
    [S_PUBLIC_KEY] = {"\"public_key\"", "a string or null"},
    [S_SHA256] = {"\"sha256\"", "a string or null"},
    [S_KEY_TYPE] = {"\"key_type\"", "a string or null"},
    [S_BITS] = {"\"bits\"", "an integer or null"},
    [S_RULES] = {"\"rules\"", "an array or null"},
    [S_RULE] = {"a rule", "an object"},
    [S_DIRECTION] = {"a rule's \"direction\"", "a string or null"},
    [S_PROTOCOL] = {"a rule's \"protocol\"", "a string or null"},
    [S_PORT] = {"a rule's \"port\"", "a string or null"},
    [S_DESCRIPTION] = {"a rule's \"description\"", "a string or null"},
    [S_SRC_IPS] = {"a rule's \"source_ips\"", "an array or null"},
    [S_SRC_IP] = {"an element of \"source_ips\"", "a string"},
    [S_DST_IPS] = {"a rule's \"destination_ips\"", "an array or null"},
    [S_DST_IP] = {"an element of \"destination_ips\"", "a string"},
    [S_APPLIED] = {"\"applied_to\"", "an array or null"},
    [S_AT_ENTRY] = {"an \"applied_to\" entry", "an object"},
    [S_AT_TYPE] = {"an \"applied_to\" entry's \"type\"", "a string or null"},
    [S_AT_SERVER] = {"an \"applied_to\" entry's \"server\"", "an object or null"},
    [S_AT_SERVER_ID] = {"an \"applied_to\" server's \"id\"", "an integer or null"},
    [S_RESOURCES] = {"\"applied_to_resources\"", "an array or null"},
    [S_RESOURCE] = {"an \"applied_to_resources\" entry", "an object"},
    [S_RES_TYPE] = {"an \"applied_to_resources\" entry's \"type\"", "a string or null"},
    [S_RES_SERVER] = {"an \"applied_to_resources\" entry's \"server\"", "an object or null"},
    [S_RES_SERVER_ID] = {"an \"applied_to_resources\" server's \"id\"", "an integer or null"},
    [S_ST_SERVERS] = {"\"servers\"", "an array or null"},
    [S_ST_SERVER_ID] = {"an element of \"servers\"", "an integer"},
};

/* The keys we read somewhere, recognized once per map key (key_of); what a
 * key means depends on the context (key_slots). */
enum key {
    K_OTHER,
    K_APPLIED_TO,
    K_APPLIED_TO_RESOURCES,
    K_BITS,
    K_CREATED,
    K_DESCRIPTION,
    K_DESTINATION_IPS,
    K_DIRECTION,
    K_FINGERPRINT,
    K_FIREWALLS,
    K_HETZNER_ID,
    K_ID,
    K_INSTANCE_TYPE,
    K_IP,
    K_IPV4,
    K_IPV6,
    K_KEY_TYPE,
    K_LABELS,
    K_LAST_PAGE,
    K_LOCATION,
    K_META,
    K_NAME,
    K_NEXT_PAGE,
    K_PAGE,
    K_PAGINATION,
    K_PER_PAGE,
    K_PORT,
    K_PREVIOUS_PAGE,
    K_PROTOCOL,
    K_PUBLIC_KEY,
    K_PUBLIC_NET,
    K_REGION,
    K_RULES,
    K_SERVER,
    K_SERVER_TYPE,
    K_SERVERS,
    K_SHA256,
    K_SOURCE_IPS,
    K_SSH_KEYS,
    K_STATUS,
    K_TOTAL_ENTRIES,
    K_TYPE,
    K__COUNT
};

/* A map key's enum key: a switch on the length, then compares of that many
 * bytes (memcmp with a constant size, which compilers inline).  A server
 * object has about 100 keys, 60 of them in contexts we read: this is the
 * parser's hottest lookup. */
static enum key key_of(const unsigned char *k, size_t n)
{
#define IS(lit) (n == sizeof lit - 1 && memcmp(k, lit, sizeof lit - 1) == 0)
    switch (n) {
    case 2:
        return IS("id") ? K_ID : IS("ip") ? K_IP : K_OTHER;
    case 4:
        return IS("name")   ? K_NAME
               : IS("type") ? K_TYPE
               : IS("ipv4") ? K_IPV4
               : IS("ipv6") ? K_IPV6
               : IS("page") ? K_PAGE
               : IS("port") ? K_PORT
               : IS("bits") ? K_BITS
               : IS("meta") ? K_META
                            : K_OTHER;
    case 5:
        return IS("rules") ? K_RULES : K_OTHER;
    case 6:
        return IS("status")   ? K_STATUS
               : IS("labels") ? K_LABELS
               : IS("server") ? K_SERVER
               : IS("region") ? K_REGION
               : IS("sha256") ? K_SHA256
                              : K_OTHER;
    case 7:
        return IS("created") ? K_CREATED : IS("servers") ? K_SERVERS : K_OTHER;
    case 8:
        return IS("location")   ? K_LOCATION
               : IS("protocol") ? K_PROTOCOL
               : IS("per_page") ? K_PER_PAGE
               : IS("key_type") ? K_KEY_TYPE
               : IS("ssh_keys") ? K_SSH_KEYS
                                : K_OTHER;
    case 9:
        return IS("firewalls")   ? K_FIREWALLS
               : IS("direction") ? K_DIRECTION
               : IS("next_page") ? K_NEXT_PAGE
               : IS("last_page") ? K_LAST_PAGE
                                 : K_OTHER;
    case 10:
        return IS("public_net")   ? K_PUBLIC_NET
               : IS("public_key") ? K_PUBLIC_KEY
               : IS("source_ips") ? K_SOURCE_IPS
               : IS("applied_to") ? K_APPLIED_TO
               : IS("pagination") ? K_PAGINATION
               : IS("hetzner_id") ? K_HETZNER_ID
                                  : K_OTHER;
    case 11:
        return IS("server_type")   ? K_SERVER_TYPE
               : IS("fingerprint") ? K_FINGERPRINT
               : IS("description") ? K_DESCRIPTION
                                   : K_OTHER;
    case 13:
        return IS("previous_page")   ? K_PREVIOUS_PAGE
               : IS("total_entries") ? K_TOTAL_ENTRIES
               : IS("instance_type") ? K_INSTANCE_TYPE
                                     : K_OTHER;
    case 15:
        return IS("destination_ips") ? K_DESTINATION_IPS : K_OTHER;
    case 20:
        return IS("applied_to_resources") ? K_APPLIED_TO_RESOURCES : K_OTHER;
    default:
        return K_OTHER;
    }
#undef IS
}

/* The slot of each key we read, per object context; S_SKIP (0) elsewhere.
 * C_TOP (the collection's name depends on the parser) and C_LABELS (any
 * key) are cb_map_key's. */
static const unsigned char key_slots[C__COUNT][K__COUNT] = {
    [C_META] = {[K_PAGINATION] = S_PAGINATION},
    [C_PAGINATION] = {[K_PAGE] = S_PG_PAGE, [K_PER_PAGE] = S_PG_PER_PAGE,
                      [K_PREVIOUS_PAGE] = S_PG_PREV, [K_NEXT_PAGE] = S_PG_NEXT,
                      [K_LAST_PAGE] = S_PG_LAST, [K_TOTAL_ENTRIES] = S_PG_TOTAL},
    [C_SERVER] = {[K_ID] = S_ID, [K_NAME] = S_NAME, [K_STATUS] = S_STATUS,
                  [K_CREATED] = S_CREATED, [K_LABELS] = S_LABELS, [K_LOCATION] = S_LOCATION,
                  [K_SERVER_TYPE] = S_STYPE, [K_PUBLIC_NET] = S_PUBNET},
    [C_LOCATION] = {[K_NAME] = S_LOCATION_NAME},
    [C_STYPE] = {[K_NAME] = S_STYPE_NAME},
    [C_PUBNET] = {[K_IPV4] = S_IPV4, [K_IPV6] = S_IPV6, [K_FIREWALLS] = S_SRV_FWS},
    [C_IPV4] = {[K_IP] = S_IPV4_IP},
    [C_IPV6] = {[K_IP] = S_IPV6_IP},
    [C_SRV_FW] = {[K_ID] = S_FWB_ID, [K_STATUS] = S_FWB_STATUS},
    [C_KEY] = {[K_ID] = S_ID, [K_NAME] = S_NAME, [K_FINGERPRINT] = S_FINGERPRINT,
               [K_PUBLIC_KEY] = S_PUBLIC_KEY, [K_LABELS] = S_LABELS, [K_CREATED] = S_CREATED},
    [C_FW] = {[K_ID] = S_ID, [K_NAME] = S_NAME, [K_LABELS] = S_LABELS, [K_CREATED] = S_CREATED,
              [K_RULES] = S_RULES, [K_APPLIED_TO] = S_APPLIED},
    [C_RULE] = {[K_DIRECTION] = S_DIRECTION, [K_PROTOCOL] = S_PROTOCOL, [K_PORT] = S_PORT,
                [K_DESCRIPTION] = S_DESCRIPTION, [K_SOURCE_IPS] = S_SRC_IPS,
                [K_DESTINATION_IPS] = S_DST_IPS},
    [C_AT_ENTRY] = {[K_TYPE] = S_AT_TYPE, [K_SERVER] = S_AT_SERVER,
                    [K_APPLIED_TO_RESOURCES] = S_RESOURCES},
    [C_AT_SERVER] = {[K_ID] = S_AT_SERVER_ID},
    [C_RESOURCE] = {[K_TYPE] = S_RES_TYPE, [K_SERVER] = S_RES_SERVER},
    [C_RES_SERVER] = {[K_ID] = S_RES_SERVER_ID},
    [C_ST_SERVER] = {[K_HETZNER_ID] = S_ID, [K_NAME] = S_NAME, [K_STATUS] = S_STATUS,
                     [K_CREATED] = S_CREATED, [K_LABELS] = S_LABELS,
                     [K_REGION] = S_LOCATION_NAME, [K_INSTANCE_TYPE] = S_STYPE_NAME,
                     [K_IPV4] = S_IPV4_IP, [K_IPV6] = S_IPV6_IP, [K_FIREWALLS] = S_SRV_FWS},
    [C_ST_KEY] = {[K_NAME] = S_NAME, [K_FINGERPRINT] = S_FINGERPRINT, [K_SHA256] = S_SHA256,
                  [K_KEY_TYPE] = S_KEY_TYPE, [K_BITS] = S_BITS, [K_LABELS] = S_LABELS,
                  [K_CREATED] = S_CREATED},
    [C_ST_FW] = {[K_NAME] = S_NAME, [K_LABELS] = S_LABELS, [K_RULES] = S_RULES,
                 [K_SERVERS] = S_ST_SERVERS},
};

/* The key of each collection's array in a page. */
static const unsigned char coll_keys[SLATE_COLL_COUNT] = {
    [SLATE_COLL_SERVERS] = K_SERVERS,
    [SLATE_COLL_SSH_KEYS] = K_SSH_KEYS,
    [SLATE_COLL_FIREWALLS] = K_FIREWALLS,
};

/* ---- the parser --------------------------------------------------------- */

enum mode { MODE_PAGE, MODE_STORED };

/* An applied_to entry's or resource's type. */
enum at_type { AT_NONE, AT_SERVER, AT_LABEL_SELECTOR, AT_OTHER };

struct frame {
    unsigned char ctx;
    unsigned char slot;
};

/* A rule while its firewall is being read; its CIDRs are ranges of ips. */
struct rule_scratch {
    char *direction, *protocol, *port, *description;
    size_t src_start, n_src, dst_start, n_dst;
};

/* Bytes of the arena chunks kept strings are carved from (keep). */
#define STR_CHUNK 512

/* A growable vector owned by the parser, reused across records. */
#define VEC(type) struct { type *v; size_t n, cap; }
#define VEC_PUSH(vec, x)                                                              \
    do {                                                                              \
        if ((vec).n == (vec).cap)                                                     \
            (vec).v = slate_grow((vec).v, &(vec).cap, (vec).n + 1, sizeof *(vec).v);  \
        (vec).v[(vec).n++] = (x);                                                     \
    } while (0)

struct slate_page_parser {
    yajl_handle h;
    enum mode mode;
    enum slate_collection coll;
    enum slate_hz_stored stored_kind;
    int64_t stored_id;
    enum slate_collection kind; /* of the records read (coll, or the stored kind's) */
    struct slate_inventory *inv;

    struct frame stack[SLATE_HZ_MAX_DEPTH + 1]; /* [0] is the root */
    int depth;
    int skip;               /* levels inside a container we do not read */

    bool failed, finished, seen_coll;
    struct slate_err err;
    size_t fed;             /* bytes fed before the current chunk */
    /* yajl buffers a token that spans chunks and lexes it again from its
     * start with every chunk: a body that is one endless string costs time
     * quadratic in its size.  Bytes fed since the last callback bound that:
     * past the longest token a kept string can be, the body is refused. */
    bool progress;
    size_t quiet;
    struct slate_pagination pg;
    size_t n_items;         /* records appended */
    size_t item_no;         /* 1-based number of the item being read */
    bool in_item;

    /* The record being read. */
    bool has_id;
    struct slate_server srv;
    struct slate_ssh_key key;
    struct slate_firewall fw;

    char *str_next;         /* free part of the current string chunk */
    size_t str_left;
    char *label_key;        /* key of the label value to come */
    VEC(struct slate_hz_label) labels;
    VEC(struct slate_fw_binding) fwbs;
    struct {
        bool has_id;
        int64_t id;
        enum slate_fw_status status;
    } fwb;
    VEC(struct rule_scratch) rules;
    struct rule_scratch rule;
    VEC(char *) ips;
    VEC(int64_t) servers;
    size_t n_applied;
    struct {
        enum at_type type;
        bool has_id;
        int64_t id;
        size_t res_start;   /* servers.n when the entry began */
    } at;
    struct {
        enum at_type type;
        bool has_id;
        int64_t id;
    } res;
};

static const yajl_callbacks callbacks;

static const char *const stored_names[] = {"server asset", "SSH key", "firewall"};

#define P(ctx)                                                              \
    struct slate_page_parser *p = (ctx);                                    \
    p->progress = true

static struct frame *top(struct slate_page_parser *p)
{
    return &p->stack[p->depth];
}

/* Records a schema failure and cancels the parse (a yajl callback that
 * returns 0 makes yajl_parse answer yajl_status_client_canceled). */
__attribute__((format(printf, 2, 3)))
static int bad(struct slate_page_parser *p, const char *fmt, ...)
{
    char detail[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (p->mode == MODE_STORED) {
        slate_err_set(&p->err, SLATE_E_INTERNAL, "The stored %s JSON does not parse: %s",
                      stored_names[p->stored_kind], detail);
    } else {
        char where[48] = "";
        if (p->in_item)
            snprintf(where, sizeof where, "item %zu: ", p->item_no);
        slate_err_set(&p->err, SLATE_E_BAD_RESPONSE,
                      "The Hetzner API sent a %s page that does not match its schema: %s%s",
                      slate_collection_name(p->coll), where, detail);
    }
    p->failed = true;
    return 0;
}

/* The name of the record's id field, for sentences. */
static const char *id_name(const struct slate_page_parser *p)
{
    return p->mode == MODE_STORED ? "\"hetzner_id\"" : "\"id\"";
}

static int wrong_type(struct slate_page_parser *p, enum slot s)
{
    return bad(p, "%s is not %s", s == S_ID ? id_name(p) : slot_info[s].name,
               slot_info[s].expect);
}

static int push(struct slate_page_parser *p, enum ctx c, enum slot s)
{
    if (p->depth >= SLATE_HZ_MAX_DEPTH)
        return bad(p, "JSON nested deeper than %d levels", SLATE_HZ_MAX_DEPTH);
    p->depth++;
    p->stack[p->depth].ctx = (unsigned char)c;
    p->stack[p->depth].slot = (unsigned char)s;
    return 1;
}

/* Enters a container we do not read, or one more level of it. */
static int skip_in(struct slate_page_parser *p)
{
    if (p->depth + p->skip >= SLATE_HZ_MAX_DEPTH)
        return bad(p, "JSON nested deeper than %d levels", SLATE_HZ_MAX_DEPTH);
    p->skip++;
    return 1;
}

/* Copies n bytes of s to d when every one is in 1..127, text that
 * slate_hz_arena_text keeps as it is (nearly every string a page has);
 * false otherwise, with d holding garbage.  Eight bytes at a time: a byte b
 * has its top bit set in (b - 1) | b exactly when it is 0 or above 127 (a
 * borrow only starts at a zero byte, which fails anyway).  Short strings,
 * the most, are two overlapping loads. */
static bool copy_plain(char *d, const unsigned char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, tops = 0x8080808080808080u;
    uint64_t w, x, bad = 0;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            bad |= (w - ones) | w;
            memcpy(d + i, &w, 8);
        }
        memcpy(&w, s + n - 8, 8);
        bad |= (w - ones) | w;
        memcpy(d + n - 8, &w, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        w = a;
        x = b;
        bad = (w - (uint32_t)ones) | w | (x - (uint32_t)ones) | x;
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            bad |= (uint64_t)(s[i] - 1) | s[i];
            d[i] = (char)s[i];
        }
    }
    return !(bad & tops);
}

/* A string we keep, copied into the inventory's arena (cleaned: see
 * slate_hz_arena_text); NULL, after failing, when it is over the limit.
 * A page's short strings are carved from a chunk of the arena the parser
 * holds until the next reset (inv is borrowed until then), not one
 * slate_arena_alloc each, and packed without alignment (less memory than
 * one allocation each, also for pages of a few keys).  Not a stored
 * record's: its parser reads a few strings and is freed, and a chunk each
 * would waste most of it. */
static char *keep(struct slate_page_parser *p, const unsigned char *s, size_t n, enum slot what)
{
    if (n > SLATE_HZ_MAX_STRING) {
        bad(p, "%s is longer than %d bytes", slot_info[what].name, SLATE_HZ_MAX_STRING);
        return NULL;
    }
    if (n >= p->str_left) {
        if (n >= STR_CHUNK / 4 || p->mode == MODE_STORED)
            return slate_hz_arena_text(&p->inv->arena, (const char *)s, n);
        p->str_next = slate_arena_alloc(&p->inv->arena, STR_CHUNK);
        p->str_left = STR_CHUNK;
    }
    char *d = p->str_next;
    if (!copy_plain(d, s, n))
        return slate_hz_arena_text(&p->inv->arena, (const char *)s, n);
    d[n] = '\0';
    p->str_next += n + 1;
    p->str_left -= n + 1;
    return d;
}

/* slate_hz_parse_int, without its per-digit overflow division for the up
 * to 18 digits that cannot overflow (ids, counts). */
static bool parse_int(const char *s, size_t n, int64_t *out)
{
    size_t neg = n > 0 && s[0] == '-';
    if (n - neg - 1 >= 18)
        return slate_hz_parse_int(s, n, out); /* no digits, or 19 and more */
    int64_t v = 0;
    for (size_t i = neg; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? -v : v;
    return true;
}

/* Where a string slot's value goes in the record being read. */
static char **str_target(struct slate_page_parser *p, enum slot s)
{
    bool server = p->kind == SLATE_COLL_SERVERS, key = p->kind == SLATE_COLL_SSH_KEYS;
    switch (s) {
    case S_NAME: return server ? &p->srv.name : key ? &p->key.name : &p->fw.name;
    case S_CREATED: return server ? &p->srv.created : key ? &p->key.created : &p->fw.created;
    case S_STATUS: return &p->srv.status;
    case S_LOCATION_NAME: return &p->srv.location;
    case S_STYPE_NAME: return &p->srv.server_type;
    case S_IPV4_IP: return &p->srv.ipv4;
    case S_IPV6_IP: return &p->srv.ipv6;
    case S_FINGERPRINT: return &p->key.fingerprint;
    case S_SHA256: return &p->key.sha256;
    case S_KEY_TYPE: return &p->key.key_type;
    case S_DIRECTION: return &p->rule.direction;
    case S_PROTOCOL: return &p->rule.protocol;
    case S_PORT: return &p->rule.port;
    case S_DESCRIPTION: return &p->rule.description;
    default: return NULL;
    }
}

static enum at_type at_type_of(const unsigned char *s, size_t n)
{
    if (n == 6 && memcmp(s, "server", 6) == 0)
        return AT_SERVER;
    if (n == 14 && memcmp(s, "label_selector", 14) == 0)
        return AT_LABEL_SELECTOR;
    return AT_OTHER;
}

static int push_server_id(struct slate_page_parser *p, int64_t id)
{
    if (p->servers.n >= SLATE_HZ_MAX_FIREWALL_SERVERS)
        return bad(p, "a firewall reaches more than %d servers", SLATE_HZ_MAX_FIREWALL_SERVERS);
    VEC_PUSH(p->servers, id);
    return 1;
}

/* ---- records -------------------------------------------------------------- */

static void begin_item(struct slate_page_parser *p)
{
    p->in_item = true;
    p->item_no++;
    p->has_id = false;
    memset(&p->srv, 0, sizeof p->srv);
    memset(&p->key, 0, sizeof p->key);
    memset(&p->fw, 0, sizeof p->fw);
    p->key.bits = -1;
    p->labels.n = 0;
    p->fwbs.n = 0;
    p->rules.n = 0;
    p->ips.n = 0;
    p->servers.n = 0;
    p->n_applied = 0;
    if (p->mode == MODE_STORED && p->stored_kind != SLATE_HZ_STORED_SERVER) {
        p->has_id = true;
        p->key.id = p->fw.id = p->stored_id;
    }
}

static struct slate_labels labels_to_arena(struct slate_page_parser *p)
{
    struct slate_labels out = {NULL, 0};
    size_t n = slate_hz_labels_canonical(p->labels.v, p->labels.n);
    if (n == 0)
        return out;
    out.v = slate_arena_alloc(&p->inv->arena, n * sizeof *out.v);
    for (size_t i = 0; i < n; i++) {
        out.v[i].key = p->labels.v[i].key;
        out.v[i].value = p->labels.v[i].value;
    }
    out.n = n;
    return out;
}

static char **ips_to_arena(struct slate_page_parser *p, size_t start, size_t n)
{
    if (n == 0)
        return NULL;
    char **v = slate_arena_alloc(&p->inv->arena, n * sizeof *v);
    memcpy(v, p->ips.v + start, n * sizeof *v);
    return v;
}

static int64_t *servers_to_arena(struct slate_page_parser *p, size_t *n_out)
{
    size_t n = slate_hz_ids_sort_unique(p->servers.v, p->servers.n);
    *n_out = n;
    if (n == 0)
        return NULL;
    int64_t *v = slate_arena_alloc(&p->inv->arena, n * sizeof *v);
    memcpy(v, p->servers.v, n * sizeof *v);
    return v;
}

static int commit_item(struct slate_page_parser *p)
{
    struct slate_arena *a = &p->inv->arena;
    if (!p->has_id)
        return bad(p, "the object has no %s", id_name(p));
    switch (p->kind) {
    case SLATE_COLL_SERVERS: {
        struct slate_server s = p->srv;
        s.labels = labels_to_arena(p);
        if (p->fwbs.n) {
            s.firewalls = slate_arena_alloc(a, p->fwbs.n * sizeof *s.firewalls);
            memcpy(s.firewalls, p->fwbs.v, p->fwbs.n * sizeof *s.firewalls);
        }
        s.n_firewalls = p->fwbs.n;
        *slate_inventory_add_server(p->inv) = s;
        break;
    }
    case SLATE_COLL_SSH_KEYS: {
        struct slate_ssh_key k = p->key;
        k.labels = labels_to_arena(p);
        *slate_inventory_add_ssh_key(p->inv) = k;
        break;
    }
    case SLATE_COLL_FIREWALLS: {
        struct slate_firewall f = p->fw;
        f.labels = labels_to_arena(p);
        if (p->rules.n) {
            f.rules = slate_arena_alloc(a, p->rules.n * sizeof *f.rules);
            for (size_t i = 0; i < p->rules.n; i++) {
                const struct rule_scratch *r = &p->rules.v[i];
                f.rules[i] = (struct slate_fw_rule){
                    .direction = r->direction,
                    .protocol = r->protocol,
                    .port = r->port,
                    .source_ips = ips_to_arena(p, r->src_start, r->n_src),
                    .n_source_ips = r->n_src,
                    .destination_ips = ips_to_arena(p, r->dst_start, r->n_dst),
                    .n_destination_ips = r->n_dst,
                    .description = r->description,
                };
            }
        }
        f.n_rules = p->rules.n;
        f.servers = servers_to_arena(p, &f.n_servers);
        *slate_inventory_add_firewall(p->inv) = f;
        break;
    }
    }
    p->n_items++;
    p->in_item = false;
    return 1;
}

/* End of one applied_to entry: a server entry reaches its server, a label
 * selector the servers of its applied_to_resources.  An entry without a type
 * is taken by what it holds; an unknown type reaches nothing we know of. */
static int end_applied_entry(struct slate_page_parser *p)
{
    enum at_type t = p->at.type;
    if (t != AT_LABEL_SELECTOR && t != AT_NONE)
        p->servers.n = p->at.res_start;
    if ((t == AT_SERVER || t == AT_NONE) && p->at.has_id)
        return push_server_id(p, p->at.id);
    return 1;
}

/* ---- yajl callbacks ------------------------------------------------------- */

/* Most callbacks come from inside containers we skip or for keys we do not
 * read.  The callbacks that do real work test that first and do the work in
 * a function of its own (noinline: the test then needs no stack frame). */
#define NOINLINE __attribute__((noinline))

static int cb_null(void *ctx)
{
    P(ctx);
    if (p->skip)
        return 1;
    enum slot s = top(p)->slot;
    char **t;
    switch (s) {
    case S_SKIP: case S_META: case S_PAGINATION: case S_PUBNET:
    case S_AT_SERVER: case S_RES_SERVER:
        return 1;
    case S_PG_PAGE: p->pg.page = -1; return 1;
    case S_PG_PER_PAGE: p->pg.per_page = -1; return 1;
    case S_PG_PREV: p->pg.previous_page = -1; return 1;
    case S_PG_NEXT: p->pg.next_page = -1; return 1;
    case S_PG_LAST: p->pg.last_page = -1; return 1;
    case S_PG_TOTAL: p->pg.total_entries = -1; return 1;
    case S_LOCATION: p->srv.location = NULL; return 1;
    case S_STYPE: p->srv.server_type = NULL; return 1;
    case S_IPV4: p->srv.ipv4 = NULL; return 1;
    case S_IPV6: p->srv.ipv6 = NULL; return 1;
    case S_LABELS: p->labels.n = 0; return 1;
    case S_SRV_FWS: p->fwbs.n = 0; return 1;
    case S_RULES: p->rules.n = 0; return 1;
    case S_SRC_IPS: p->rule.n_src = 0; return 1;
    case S_DST_IPS: p->rule.n_dst = 0; return 1;
    case S_APPLIED: case S_ST_SERVERS: p->servers.n = 0; return 1;
    case S_RESOURCES: p->servers.n = p->at.res_start; return 1;
    case S_AT_TYPE: p->at.type = AT_NONE; return 1;
    case S_RES_TYPE: p->res.type = AT_NONE; return 1;
    case S_AT_SERVER_ID: p->at.has_id = false; return 1;
    case S_RES_SERVER_ID: p->res.has_id = false; return 1;
    case S_PUBLIC_KEY:
        p->key.key_type = p->key.sha256 = NULL;
        p->key.bits = -1;
        return 1;
    case S_BITS: p->key.bits = -1; return 1;
    case S_FWB_STATUS: p->fwb.status = SLATE_FW_PENDING; return 1;
    default:
        if ((t = str_target(p, s))) {
            *t = NULL;
            return 1;
        }
        return wrong_type(p, s);
    }
}

static int cb_boolean(void *ctx, int v)
{
    (void)v;
    P(ctx);
    if (p->skip || top(p)->slot == S_SKIP)
        return 1;
    return wrong_type(p, top(p)->slot);
}

NOINLINE static int read_number(struct slate_page_parser *p, enum slot slot, const char *s,
                            size_t n)
{
    int64_t v;
    bool is_int = parse_int(s, n, &v);
    switch (slot) {
    case S_ID:
        if (!is_int)
            return bad(p, "%s is not an integer", id_name(p));
        p->has_id = true;
        p->srv.id = p->key.id = p->fw.id = v;
        return 1;
    case S_PG_PAGE: case S_PG_PER_PAGE: case S_PG_PREV:
    case S_PG_NEXT: case S_PG_LAST: case S_PG_TOTAL:
        if (!is_int)
            return wrong_type(p, slot);
        {
            int64_t *dst[] = {&p->pg.page, &p->pg.per_page, &p->pg.previous_page,
                              &p->pg.next_page, &p->pg.last_page, &p->pg.total_entries};
            *dst[slot - S_PG_PAGE] = v;
        }
        return 1;
    case S_FWB_ID:
        if (!is_int)
            return wrong_type(p, slot);
        p->fwb.has_id = true;
        p->fwb.id = v;
        return 1;
    case S_AT_SERVER_ID:
        if (!is_int)
            return wrong_type(p, slot);
        p->at.has_id = true;
        p->at.id = v;
        return 1;
    case S_RES_SERVER_ID:
        if (!is_int)
            return wrong_type(p, slot);
        p->res.has_id = true;
        p->res.id = v;
        return 1;
    case S_ST_SERVER_ID:
        if (!is_int)
            return wrong_type(p, slot);
        return push_server_id(p, v);
    case S_BITS:
        if (!is_int || v < -1 || v > INT_MAX)
            return wrong_type(p, slot);
        p->key.bits = (int)v;
        return 1;
    default:
        return wrong_type(p, slot);
    }
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    P(ctx);
    if (p->skip || top(p)->slot == S_SKIP)
        return 1;
    return read_number(p, top(p)->slot, s, n);
}

NOINLINE static int read_string(struct slate_page_parser *p, enum slot slot,
                            const unsigned char *s, size_t n)
{
    char **t, *v;
    switch (slot) {
    case S_PUBLIC_KEY:
        /* Read where yajl holds it (only pages have it; a repeated key's
         * last value wins, as for every field). */
        if (n > SLATE_HZ_MAX_STRING)
            return bad(p, "\"public_key\" is longer than %d bytes", SLATE_HZ_MAX_STRING);
        slate_ssh_public_key_info((const char *)s, n, &p->inv->arena, &p->key.key_type,
                                  &p->key.sha256, &p->key.bits);
        return 1;
    case S_FWB_STATUS:
        p->fwb.status = n == 7 && memcmp(s, "applied", 7) == 0 ? SLATE_FW_APPLIED
                                                               : SLATE_FW_PENDING;
        return 1;
    case S_LABEL_VALUE:
        if (p->labels.n >= SLATE_HZ_MAX_LABELS)
            return bad(p, "more than %d labels", SLATE_HZ_MAX_LABELS);
        if (!(v = keep(p, s, n, slot)))
            return 0;
        {
            struct slate_hz_label l = {p->label_key, v, p->labels.n};
            VEC_PUSH(p->labels, l);
        }
        return 1;
    case S_SRC_IP:
    case S_DST_IP: {
        size_t *count = slot == S_SRC_IP ? &p->rule.n_src : &p->rule.n_dst;
        if (*count >= SLATE_HZ_MAX_RULE_IPS)
            return bad(p, "a rule lists more than %d addresses", SLATE_HZ_MAX_RULE_IPS);
        if (!(v = keep(p, s, n, slot)))
            return 0;
        VEC_PUSH(p->ips, v);
        (*count)++;
        return 1;
    }
    case S_AT_TYPE:
        p->at.type = at_type_of(s, n);
        return 1;
    case S_RES_TYPE:
        p->res.type = at_type_of(s, n);
        return 1;
    default:
        if ((t = str_target(p, slot))) {
            if (!(v = keep(p, s, n, slot)))
                return 0;
            *t = v;
            return 1;
        }
        return wrong_type(p, slot);
    }
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    P(ctx);
    if (p->skip || top(p)->slot == S_SKIP)
        return 1;
    return read_string(p, top(p)->slot, s, n);
}

static int cb_start_map(void *ctx)
{
    P(ctx);
    if (p->skip)
        return skip_in(p);
    enum slot s = top(p)->slot;
    switch (s) {
    case S_SKIP:
        return skip_in(p);
    case S_TOP:
        return push(p, C_TOP, S_SKIP);
    case S_META:
        return push(p, C_META, S_SKIP);
    case S_PAGINATION:
        p->pg.present = true;
        return push(p, C_PAGINATION, S_SKIP);
    case S_ITEM:
        begin_item(p);
        return push(p, p->coll == SLATE_COLL_SERVERS    ? C_SERVER
                       : p->coll == SLATE_COLL_SSH_KEYS ? C_KEY
                                                        : C_FW,
                    S_SKIP);
    case S_ST_ROOT:
        begin_item(p);
        return push(p, p->stored_kind == SLATE_HZ_STORED_SERVER    ? C_ST_SERVER
                       : p->stored_kind == SLATE_HZ_STORED_SSH_KEY ? C_ST_KEY
                                                                   : C_ST_FW,
                    S_SKIP);
    case S_LABELS:
        p->labels.n = 0;
        return push(p, C_LABELS, S_SKIP);
    case S_LOCATION:
        p->srv.location = NULL;
        return push(p, C_LOCATION, S_SKIP);
    case S_STYPE:
        p->srv.server_type = NULL;
        return push(p, C_STYPE, S_SKIP);
    case S_PUBNET:
        return push(p, C_PUBNET, S_SKIP);
    case S_IPV4:
        p->srv.ipv4 = NULL;
        return push(p, C_IPV4, S_SKIP);
    case S_IPV6:
        p->srv.ipv6 = NULL;
        return push(p, C_IPV6, S_SKIP);
    case S_SRV_FW:
        p->fwb.has_id = false;
        p->fwb.status = SLATE_FW_PENDING;
        return push(p, C_SRV_FW, S_SKIP);
    case S_RULE:
        memset(&p->rule, 0, sizeof p->rule);
        return push(p, C_RULE, S_SKIP);
    case S_AT_ENTRY:
        if (p->n_applied >= SLATE_HZ_MAX_APPLIED_TO)
            return bad(p, "more than %d \"applied_to\" entries", SLATE_HZ_MAX_APPLIED_TO);
        p->n_applied++;
        p->at.type = AT_NONE;
        p->at.has_id = false;
        p->at.res_start = p->servers.n;
        return push(p, C_AT_ENTRY, S_SKIP);
    case S_AT_SERVER:
        p->at.has_id = false;
        return push(p, C_AT_SERVER, S_SKIP);
    case S_RESOURCE:
        p->res.type = AT_NONE;
        p->res.has_id = false;
        return push(p, C_RESOURCE, S_SKIP);
    case S_RES_SERVER:
        p->res.has_id = false;
        return push(p, C_RES_SERVER, S_SKIP);
    default:
        return wrong_type(p, s);
    }
}

NOINLINE static int read_label_key(struct slate_page_parser *p, const unsigned char *k, size_t n)
{
    if (!(p->label_key = keep(p, k, n, S_LABEL_KEY)))
        return 0;
    top(p)->slot = S_LABEL_VALUE;
    return 1;
}

NOINLINE static int read_key(struct slate_page_parser *p, const unsigned char *k, size_t n)
{
    struct frame *f = top(p);
    if (f->ctx == C_LABELS)
        return read_label_key(p, k, n);
    enum key key = key_of(k, n);
    if (f->ctx == C_TOP)
        f->slot = key == coll_keys[p->coll] ? S_COLL : key == K_META ? S_META : S_SKIP;
    else
        f->slot = key_slots[f->ctx][key];
    return 1;
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t n)
{
    P(ctx);
    if (p->skip)
        return 1;
    return read_key(p, k, n);
}

NOINLINE static int end_map(struct slate_page_parser *p)
{
    enum ctx c = top(p)->ctx;
    p->depth--;
    switch (c) {
    case C_SERVER: case C_KEY: case C_FW:
    case C_ST_SERVER: case C_ST_KEY: case C_ST_FW:
        return commit_item(p);
    case C_SRV_FW: {
        if (!p->fwb.has_id)
            return bad(p, "a firewall of the server has no \"id\"");
        if (p->fwbs.n >= SLATE_HZ_MAX_SERVER_FIREWALLS)
            return bad(p, "more than %d firewalls on a server", SLATE_HZ_MAX_SERVER_FIREWALLS);
        struct slate_fw_binding b = {p->fwb.id, p->fwb.status};
        VEC_PUSH(p->fwbs, b);
        return 1;
    }
    case C_RULE:
        if (p->rules.n >= SLATE_HZ_MAX_RULES)
            return bad(p, "more than %d rules", SLATE_HZ_MAX_RULES);
        VEC_PUSH(p->rules, p->rule);
        return 1;
    case C_AT_ENTRY:
        return end_applied_entry(p);
    case C_RESOURCE:
        if ((p->res.type == AT_SERVER || p->res.type == AT_NONE) && p->res.has_id)
            return push_server_id(p, p->res.id);
        return 1;
    default:
        return 1;
    }
}

static int cb_end_map(void *ctx)
{
    P(ctx);
    if (p->skip) {
        p->skip--;
        return 1;
    }
    return end_map(p);
}

static int cb_start_array(void *ctx)
{
    P(ctx);
    if (p->skip)
        return skip_in(p);
    enum slot s = top(p)->slot;
    switch (s) {
    case S_SKIP:
        return skip_in(p);
    case S_COLL:
        p->seen_coll = true;
        return push(p, C_ITEMS, S_ITEM);
    case S_SRV_FWS:
        p->fwbs.n = 0;
        return push(p, C_SRV_FWS, S_SRV_FW);
    case S_RULES:
        p->rules.n = 0;
        p->ips.n = 0;
        return push(p, C_RULES, S_RULE);
    case S_SRC_IPS:
        p->rule.src_start = p->ips.n;
        p->rule.n_src = 0;
        return push(p, C_SRC_IPS, S_SRC_IP);
    case S_DST_IPS:
        p->rule.dst_start = p->ips.n;
        p->rule.n_dst = 0;
        return push(p, C_DST_IPS, S_DST_IP);
    case S_APPLIED:
        p->servers.n = 0;
        p->n_applied = 0;
        return push(p, C_APPLIED, S_AT_ENTRY);
    case S_RESOURCES:
        p->servers.n = p->at.res_start;
        return push(p, C_RESOURCES, S_RESOURCE);
    case S_ST_SERVERS:
        p->servers.n = 0;
        return push(p, C_ST_SERVERS, S_ST_SERVER_ID);
    default:
        return wrong_type(p, s);
    }
}

static int cb_end_array(void *ctx)
{
    P(ctx);
    if (p->skip)
        p->skip--;
    else
        p->depth--;
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

/* ---- lifecycle ------------------------------------------------------------ */

static void start(struct slate_page_parser *p, enum mode mode, enum slate_collection c,
                  struct slate_inventory *inv)
{
    if (p->h)
        yajl_free(p->h);
    /* Defaults keep UTF-8 validation on and refuse comments, trailing
     * garbage and multiple values: exactly one strict JSON document. */
    p->h = yajl_alloc(&callbacks, &slate_hz_yajl_alloc, p);
    if (!p->h)
        abort(); /* only on allocation failure, which slate_malloc aborts on */
    p->mode = mode;
    p->coll = c;
    p->inv = inv;
    p->kind = c;
    p->depth = 0;
    p->skip = 0;
    p->stack[0].ctx = C_ROOT;
    p->stack[0].slot = mode == MODE_PAGE ? S_TOP : S_ST_ROOT;
    p->failed = p->finished = p->seen_coll = false;
    slate_err_clear(&p->err);
    p->fed = 0;
    p->pg = (struct slate_pagination){-1, -1, -1, -1, -1, -1, false};
    p->n_items = 0;
    p->item_no = 0;
    p->in_item = false;
    p->label_key = NULL;
    p->str_next = NULL;
    p->str_left = 0;
}

struct slate_page_parser *slate_page_parser_new(enum slate_collection c,
                                                struct slate_inventory *inv)
{
    struct slate_page_parser *p = slate_calloc(1, sizeof *p);
    start(p, MODE_PAGE, c, inv);
    return p;
}

void slate_page_parser_reset(struct slate_page_parser *p, enum slate_collection c,
                             struct slate_inventory *inv)
{
    start(p, MODE_PAGE, c, inv);
}

void slate_page_parser_free(struct slate_page_parser *p)
{
    if (!p)
        return;
    if (p->h)
        yajl_free(p->h);
    slate_free(p->labels.v);
    slate_free(p->fwbs.v);
    slate_free(p->rules.v);
    slate_free(p->ips.v);
    slate_free(p->servers.v);
    slate_free(p);
}

/* Translates a yajl status (the one place that does): a syntax error is a
 * body that is not JSON, transient per PROTOCOL.md. */
static int yajl_failed(struct slate_page_parser *p, yajl_status st, size_t offset,
                       struct slate_err *err)
{
    if (st == yajl_status_error && !p->failed) {
        unsigned char *msg = yajl_get_error(p->h, 0, NULL, 0);
        char text[96];
        snprintf(text, sizeof text, "%s", msg ? (const char *)msg : "parse error");
        if (msg)
            yajl_free_error(p->h, msg);
        size_t len = strlen(text);
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '.'))
            text[--len] = '\0';
        if (p->mode == MODE_STORED)
            slate_err_set(&p->err, SLATE_E_INTERNAL,
                          "The stored %s JSON is not valid JSON (%s at byte %zu)",
                          stored_names[p->stored_kind], text, offset);
        else
            slate_err_set(&p->err, SLATE_E_HETZNER_UNAVAILABLE,
                          "The Hetzner API sent a %s page that is not valid JSON (%s at byte %zu)",
                          slate_collection_name(p->coll), text, offset);
        p->failed = true;
    }
    if (err)
        *err = p->err;
    return -1;
}

int slate_page_parser_feed(struct slate_page_parser *p, const void *buf, size_t n,
                           struct slate_err *err)
{
    if (p->failed) {
        if (err)
            *err = p->err;
        return -1;
    }
    if (p->finished)
        return slate_err_set(err, SLATE_E_INTERNAL, "A page parser was fed after its end");
    if (n == 0)
        return 0;
    p->progress = false;
    yajl_status st = yajl_parse(p->h, buf, n);
    if (st != yajl_status_ok)
        return yajl_failed(p, st, p->fed + yajl_get_bytes_consumed(p->h), err);
    p->fed += n;
    p->quiet = p->progress ? 0 : p->quiet + n;
    /* A kept string of SLATE_HZ_MAX_STRING bytes is at most six times as
     * long escaped (\uXXXX), plus room for the chunk it started in. */
    if (p->quiet > 6 * (size_t)SLATE_HZ_MAX_STRING + 65536) {
        bad(p, "a JSON token is longer than %zu bytes", p->quiet);
        if (err)
            *err = p->err;
        return -1;
    }
    return 0;
}

int slate_page_parser_finish(struct slate_page_parser *p, struct slate_pagination *pg,
                             size_t *n_items, struct slate_err *err)
{
    if (pg)
        *pg = (struct slate_pagination){-1, -1, -1, -1, -1, -1, false};
    if (n_items)
        *n_items = p->n_items;
    if (p->failed) {
        if (err)
            *err = p->err;
        return -1;
    }
    if (p->finished)
        return slate_err_set(err, SLATE_E_INTERNAL, "A page parser was finished twice");
    yajl_status st = yajl_complete_parse(p->h);
    if (n_items)
        *n_items = p->n_items;
    if (st != yajl_status_ok)
        return yajl_failed(p, st, p->fed, err);
    p->finished = true;
    if (p->mode == MODE_PAGE && !p->seen_coll) {
        bad(p, "the body has no \"%s\" array", slate_collection_name(p->coll));
        if (err)
            *err = p->err;
        return -1;
    }
    if (pg)
        *pg = p->pg;
    return 0;
}

int slate_hz_parse_stored(enum slate_hz_stored kind, int64_t id, const char *json, size_t n,
                          struct slate_inventory *inv, struct slate_err *err)
{
    struct slate_page_parser *p = slate_calloc(1, sizeof *p);
    start(p, MODE_STORED, SLATE_COLL_SERVERS, inv);
    p->stored_kind = kind;
    p->kind = kind == SLATE_HZ_STORED_SERVER    ? SLATE_COLL_SERVERS
              : kind == SLATE_HZ_STORED_SSH_KEY ? SLATE_COLL_SSH_KEYS
                                                : SLATE_COLL_FIREWALLS;
    p->stored_id = id;
    size_t before = kind == SLATE_HZ_STORED_SERVER    ? inv->n_servers
                    : kind == SLATE_HZ_STORED_SSH_KEY ? inv->n_ssh_keys
                                                      : inv->n_firewalls;
    int rc = slate_page_parser_feed(p, json, n, err);
    if (rc == 0)
        rc = slate_page_parser_finish(p, NULL, NULL, err);
    if (rc == 0 && p->n_items != 1)
        rc = slate_err_set(err, SLATE_E_INTERNAL, "The stored JSON holds no record");
    if (rc != 0) {
        /* A record completed before a later error (trailing garbage) is not
         * kept: the call appends one record or nothing. */
        if (kind == SLATE_HZ_STORED_SERVER)
            inv->n_servers = before;
        else if (kind == SLATE_HZ_STORED_SSH_KEY)
            inv->n_ssh_keys = before;
        else
            inv->n_firewalls = before;
    }
    slate_page_parser_free(p);
    return rc;
}
