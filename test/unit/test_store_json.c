/*
 * test_store_json.c: the JSON stored for servers, SSH keys and firewalls
 * (PROTOCOL.md, Workspace keys) and reading it back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "slate/hetzner.h"
#include "unit.h"

#define FIX SLATE_FIXTURES "/hetzner/"

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    buf[got] = '\0';
    *n = got;
    return buf;
}

static int parse_page(enum slate_collection c, const char *body, size_t n,
                      struct slate_inventory *inv)
{
    struct slate_page_parser *p = slate_page_parser_new(c, inv);
    struct slate_err err;
    int rc = slate_page_parser_feed(p, body, n, &err);
    if (rc == 0)
        rc = slate_page_parser_finish(p, NULL, NULL, &err);
    if (rc)
        fprintf(stderr, "parse: %s\n", err.msg);
    slate_page_parser_free(p);
    return rc;
}

static int parse_fixture(const char *file, enum slate_collection c, struct slate_inventory *inv)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s", file);
    size_t n;
    char *body = read_file(path, &n);
    if (!body)
        return -1;
    int rc = parse_page(c, body, n, inv);
    free(body);
    return rc;
}

/* Whether s is one valid JSON document (yajl, UTF-8 validated). */
static bool valid_json(const char *s, size_t n)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    yajl_status st = yajl_parse(h, (const unsigned char *)s, n);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    return st == yajl_status_ok;
}

TEST(server_asset_json_exact_bytes)
{
    struct slate_inventory inv;
    slate_inventory_init(&inv);
    REQUIRE(parse_fixture("spec2026-list-servers.generated.json", SLATE_COLL_SERVERS, &inv) == 0);
    struct slate_buf b;
    slate_buf_init(&b);
    slate_server_asset_json(&inv.servers[0], "hz-prod", &b);
    CHECK_STR(b.data,
              "{\"id\":\"hetzner:hz-prod:server:42\",\"category\":\"compute_instance\","
              "\"provider\":\"hetzner\",\"integration\":\"hz-prod\",\"hetzner_id\":42,"
              "\"name\":\"my-resource\",\"region\":\"fsn1\",\"instance_type\":\"cpx22\","
              "\"status\":\"running\",\"ipv4\":\"1.2.3.4\",\"ipv6\":\"2001:db8::/64\","
              "\"labels\":{\"environment\":\"prod\",\"example.com/my\":\"label\","
              "\"just-a-key\":\"\"},\"created\":\"2016-01-30T23:55:00Z\","
              "\"firewalls\":[{\"id\":42,\"status\":\"applied\"}],\"owner_label\":null}");
    slate_buf_free(&b);
    slate_inventory_free(&inv);
}

TEST(server_asset_json_nulls_and_owner)
{
    struct slate_inventory inv;
    slate_inventory_init(&inv);
    const char *body =
        "{\"servers\":[{\"id\":7,\"public_net\":{\"ipv4\":null,\"ipv6\":null,\"firewalls\":["
        "{\"id\":9,\"status\":\"pending\"},{\"id\":3,\"status\":\"applied\"}]},"
        "\"labels\":{\"owner\":\"alice@example.com\",\"env\":\"prod\"}}]}";
    REQUIRE(parse_page(SLATE_COLL_SERVERS, body, strlen(body), &inv) == 0);
    struct slate_buf b;
    slate_buf_init(&b);
    slate_server_asset_json(&inv.servers[0], "i1", &b);
    CHECK_STR(b.data,
              "{\"id\":\"hetzner:i1:server:7\",\"category\":\"compute_instance\","
              "\"provider\":\"hetzner\",\"integration\":\"i1\",\"hetzner_id\":7,"
              "\"name\":null,\"region\":null,\"instance_type\":null,\"status\":null,"
              "\"ipv4\":null,\"ipv6\":null,"
              "\"labels\":{\"env\":\"prod\",\"owner\":\"alice@example.com\"},\"created\":null,"
              "\"firewalls\":[{\"id\":3,\"status\":\"applied\"},{\"id\":9,\"status\":\"pending\"}],"
              "\"owner_label\":\"alice@example.com\"}");
    slate_buf_free(&b);
    slate_inventory_free(&inv);
}

TEST(ssh_key_and_firewall_json_exact_bytes)
{
    struct slate_inventory inv;
    slate_inventory_init(&inv);
    const char *keys =
        "{\"ssh_keys\":[{\"id\":5,\"name\":\"me\",\"fingerprint\":\"aa:bb\",\"public_key\":"
        "\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILEymljEsBcEh0Ah0H4Mj1zAHYYMM2jXgC0lfSkcmvJ4 c\","
        "\"labels\":{\"b\":\"2\",\"a\":\"1\"},\"created\":\"2024-01-01T00:00:00Z\"},"
        "{\"id\":6,\"public_key\":\"ssh-rsa AAAjjk76kgf...Xt\"}]}";
    REQUIRE(parse_page(SLATE_COLL_SSH_KEYS, keys, strlen(keys), &inv) == 0);
    struct slate_buf b;
    slate_buf_init(&b);
    slate_ssh_key_json(&inv.ssh_keys[0], &b);
    CHECK_STR(b.data,
              "{\"name\":\"me\",\"fingerprint\":\"aa:bb\","
              "\"sha256\":\"SHA256:cYTsP8xaGXwnpl5odZOSFijQUgk+mYsBpdyp0XxngPo\","
              "\"key_type\":\"ssh-ed25519\",\"bits\":256,\"labels\":{\"a\":\"1\",\"b\":\"2\"},"
              "\"created\":\"2024-01-01T00:00:00Z\"}");
    slate_buf_reset(&b);
    slate_ssh_key_json(&inv.ssh_keys[1], &b);
    CHECK_STR(b.data,
              "{\"name\":null,\"fingerprint\":null,\"sha256\":null,\"key_type\":\"ssh-rsa\","
              "\"bits\":null,\"labels\":{},\"created\":null}");

    REQUIRE(parse_fixture("docs2025-list-firewalls.json", SLATE_COLL_FIREWALLS, &inv) == 0);
    slate_buf_reset(&b);
    slate_firewall_json(&inv.firewalls[0], &b);
    CHECK_STR(b.data,
              "{\"name\":\"new-name\",\"labels\":{\"environment\":\"prod\",\"example.com/my\":"
              "\"label\",\"just-a-key\":\"\"},\"rules\":[{\"direction\":\"in\",\"protocol\":"
              "\"tcp\",\"port\":\"80\",\"source_ips\":[\"28.239.13.1/32\",\"28.239.14.0/24\","
              "\"ff21:1eac:9a3b:ee58:5ca:990c:8bc9:c03b/128\"],\"destination_ips\":[],"
              "\"description\":null}],\"servers\":[42]}");
    slate_buf_free(&b);
    slate_inventory_free(&inv);
}

static const struct {
    const char *file;
    enum slate_collection coll;
} list_fixtures[] = {
    {"docs2025-list-servers.json", SLATE_COLL_SERVERS},
    {"docs2025-list-ssh-keys.json", SLATE_COLL_SSH_KEYS},
    {"docs2025-list-firewalls.json", SLATE_COLL_FIREWALLS},
    {"spec2026-list-servers.generated.json", SLATE_COLL_SERVERS},
    {"spec2026-list-ssh-keys.generated.json", SLATE_COLL_SSH_KEYS},
    {"spec2026-list-firewalls.generated.json", SLATE_COLL_FIREWALLS},
    {"derived-2026-07-list-servers-without-datacenter.json", SLATE_COLL_SERVERS},
    {"hcloud-python-test-list-servers.json", SLATE_COLL_SERVERS},
    {"hcloud-python-test-list-ssh-keys.json", SLATE_COLL_SSH_KEYS},
    {"hcloud-python-test-list-firewalls.json", SLATE_COLL_FIREWALLS},
};

/* Stores every record of inv, reads each back into out, checks the second
 * store gives the same bytes. */
static void round_trip(const struct slate_inventory *inv)
{
    struct slate_inventory back;
    slate_inventory_init(&back);
    struct slate_buf a, b;
    slate_buf_init(&a);
    slate_buf_init(&b);
    struct slate_err err;
    for (size_t i = 0; i < inv->n_servers; i++) {
        slate_buf_reset(&a);
        slate_buf_reset(&b);
        slate_server_asset_json(&inv->servers[i], "hz", &a);
        CHECK(valid_json(a.data, a.len));
        REQUIRE(slate_server_from_asset_json(a.data, a.len, &back, &err) == 0);
        const struct slate_server *s = &back.servers[back.n_servers - 1];
        CHECK_INT(s->id, inv->servers[i].id);
        slate_server_asset_json(s, "hz", &b);
        CHECK_STR(b.data, a.data);
    }
    for (size_t i = 0; i < inv->n_ssh_keys; i++) {
        slate_buf_reset(&a);
        slate_buf_reset(&b);
        slate_ssh_key_json(&inv->ssh_keys[i], &a);
        CHECK(valid_json(a.data, a.len));
        REQUIRE(slate_ssh_key_from_json(inv->ssh_keys[i].id, a.data, a.len, &back, &err) == 0);
        const struct slate_ssh_key *k = &back.ssh_keys[back.n_ssh_keys - 1];
        CHECK_INT(k->id, inv->ssh_keys[i].id);
        slate_ssh_key_json(k, &b);
        CHECK_STR(b.data, a.data);
    }
    for (size_t i = 0; i < inv->n_firewalls; i++) {
        slate_buf_reset(&a);
        slate_buf_reset(&b);
        slate_firewall_json(&inv->firewalls[i], &a);
        CHECK(valid_json(a.data, a.len));
        REQUIRE(slate_firewall_from_json(inv->firewalls[i].id, a.data, a.len, &back, &err) == 0);
        const struct slate_firewall *f = &back.firewalls[back.n_firewalls - 1];
        CHECK_INT(f->id, inv->firewalls[i].id);
        slate_firewall_json(f, &b);
        CHECK_STR(b.data, a.data);
    }
    slate_buf_free(&a);
    slate_buf_free(&b);
    slate_inventory_free(&back);
}

TEST(round_trip_every_fixture)
{
    for (size_t f = 0; f < sizeof list_fixtures / sizeof list_fixtures[0]; f++) {
        struct slate_inventory inv;
        slate_inventory_init(&inv);
        REQUIRE(parse_fixture(list_fixtures[f].file, list_fixtures[f].coll, &inv) == 0);
        round_trip(&inv);
        slate_inventory_free(&inv);
    }
}

TEST(round_trip_fields_survive)
{
    struct slate_inventory inv;
    slate_inventory_init(&inv);
    const char *fw =
        "{\"firewalls\":[{\"id\":11,\"name\":\"n\\\"q\\\\\",\"labels\":{\"k\":\"v\\n\"},"
        "\"rules\":[{\"direction\":\"in\",\"protocol\":\"icmp\",\"port\":null,\"source_ips\":"
        "[\"0.0.0.0/0\",\"::/0\"],\"destination_ips\":[],\"description\":\"\\u00e9\\u20ac\"},"
        "{\"direction\":\"out\",\"protocol\":\"tcp\",\"port\":\"1-65535\",\"source_ips\":[],"
        "\"destination_ips\":[\"10.0.0.0/8\"]}],\"applied_to\":[{\"type\":\"server\","
        "\"server\":{\"id\":5}},{\"type\":\"label_selector\",\"applied_to_resources\":["
        "{\"type\":\"server\",\"server\":{\"id\":2}},"
        "{\"type\":\"server\",\"server\":{\"id\":5}}]}]}]}";
    REQUIRE(parse_page(SLATE_COLL_FIREWALLS, fw, strlen(fw), &inv) == 0);
    round_trip(&inv);

    struct slate_buf a;
    slate_buf_init(&a);
    slate_firewall_json(&inv.firewalls[0], &a);
    struct slate_inventory back;
    slate_inventory_init(&back);
    struct slate_err err;
    REQUIRE(slate_firewall_from_json(11, a.data, a.len, &back, &err) == 0);
    const struct slate_firewall *f = &back.firewalls[0];
    CHECK_INT(f->id, 11);
    CHECK_STR(f->name, "n\"q\\");
    CHECK_STR(slate_labels_get(&f->labels, "k"), "v\n");
    REQUIRE(f->n_rules == 2);
    CHECK(f->rules[0].port == NULL);
    CHECK_STR(f->rules[0].description, "\xc3\xa9\xe2\x82\xac");
    CHECK_INT(f->rules[0].n_source_ips, 2);
    CHECK_STR(f->rules[1].destination_ips[0], "10.0.0.0/8");
    CHECK(f->rules[1].description == NULL);
    REQUIRE(f->n_servers == 2);
    CHECK_INT(f->servers[0], 2);
    CHECK_INT(f->servers[1], 5);
    slate_inventory_free(&back);

    /* A server's fields. */
    slate_inventory_init(&back);
    REQUIRE(parse_fixture("derived-2026-07-list-servers-without-datacenter.json",
                          SLATE_COLL_SERVERS, &back) == 0);
    slate_buf_reset(&a);
    slate_server_asset_json(&back.servers[0], "hz", &a);
    REQUIRE(slate_server_from_asset_json(a.data, a.len, &back, &err) == 0);
    const struct slate_server *s = &back.servers[1];
    CHECK_INT(s->id, 42);
    CHECK_STR(s->name, "my-resource");
    CHECK_STR(s->location, "fsn1");
    CHECK_STR(s->server_type, "cpx22");
    CHECK_STR(s->ipv4, "1.2.3.4");
    CHECK_STR(s->ipv6, "2001:db8::/64");
    CHECK_STR(s->status, "running");
    CHECK_STR(s->created, "2016-01-30T23:55:00Z");
    CHECK_INT(s->labels.n, 3);
    REQUIRE(s->n_firewalls == 1);
    CHECK(s->firewalls[0].id == 42 && s->firewalls[0].status == SLATE_FW_APPLIED);
    slate_inventory_free(&back);

    /* An SSH key's fields. */
    slate_inventory_init(&back);
    const char *key = "{\"name\":\"k\",\"fingerprint\":\"f\",\"sha256\":\"SHA256:x\","
                      "\"key_type\":\"ssh-rsa\",\"bits\":4096,\"labels\":{},\"created\":\"c\"}";
    REQUIRE(slate_ssh_key_from_json(77, key, strlen(key), &back, &err) == 0);
    CHECK_INT(back.ssh_keys[0].id, 77);
    CHECK_STR(back.ssh_keys[0].sha256, "SHA256:x");
    CHECK_STR(back.ssh_keys[0].key_type, "ssh-rsa");
    CHECK_INT(back.ssh_keys[0].bits, 4096);
    const char *key2 = "{\"name\":\"k\",\"bits\":null}";
    REQUIRE(slate_ssh_key_from_json(78, key2, strlen(key2), &back, &err) == 0);
    CHECK_INT(back.ssh_keys[1].bits, -1);
    CHECK(back.ssh_keys[1].sha256 == NULL);
    slate_inventory_free(&back);

    slate_buf_free(&a);
    slate_inventory_free(&inv);
}

TEST(deterministic_whatever_hetzner_order)
{
    const char *b1 = "{\"servers\":[{\"id\":1,\"name\":\"x\",\"labels\":{\"b\":\"2\",\"a\":\"1\"},"
                     "\"public_net\":{\"firewalls\":[{\"id\":2,\"status\":\"applied\"},"
                     "{\"id\":1,\"status\":\"pending\"}]}}]}";
    const char *b2 = "{\"servers\":[{\"public_net\":{\"firewalls\":[{\"status\":\"pending\","
                     "\"id\":1},{\"id\":2,\"status\":\"applied\"}]},\"labels\":{\"a\":\"1\","
                     "\"b\":\"2\"},\"name\":\"x\",\"id\":1,\"unknown\":5}]}";
    struct slate_inventory i1, i2;
    slate_inventory_init(&i1);
    slate_inventory_init(&i2);
    REQUIRE(parse_page(SLATE_COLL_SERVERS, b1, strlen(b1), &i1) == 0);
    REQUIRE(parse_page(SLATE_COLL_SERVERS, b2, strlen(b2), &i2) == 0);
    struct slate_buf a, b;
    slate_buf_init(&a);
    slate_buf_init(&b);
    slate_server_asset_json(&i1.servers[0], "i", &a);
    slate_server_asset_json(&i2.servers[0], "i", &b);
    CHECK_STR(a.data, b.data);
    slate_buf_free(&a);
    slate_buf_free(&b);
    slate_inventory_free(&i1);
    slate_inventory_free(&i2);
}

TEST(hand_built_records_give_valid_json)
{
    /* Invalid UTF-8 and control characters in a record built by hand. */
    struct slate_label labels[] = {{"k\xff", "v\x01"}, {"owner", "bob"}, {"owner", "carol"}};
    struct slate_fw_binding fws[] = {{5, SLATE_FW_PENDING}};
    struct slate_server s = {
        .id = -3,
        .name = "bad\xc3(",
        .status = "\xed\xa0\x80",
        .labels = {labels, 3},
        .firewalls = fws,
        .n_firewalls = 1,
    };
    struct slate_buf b;
    slate_buf_init(&b);
    slate_server_asset_json(&s, "i", &b);
    CHECK(valid_json(b.data, b.len));
    CHECK(strstr(b.data, "\"owner_label\":\"carol\"") != NULL);
    CHECK(strstr(b.data,
                 "\"labels\":{\"k\xef\xbf\xbd\":\"v\\u0001\",\"owner\":\"carol\"}") != NULL);
    slate_buf_reset(&b);

    char *ips[] = {"1.2.3.4/32\xff"};
    struct slate_fw_rule rule = {.direction = "in", .source_ips = ips, .n_source_ips = 1};
    int64_t servers[] = {9, 3, 9, 1};
    struct slate_firewall f = {.id = 1, .rules = &rule, .n_rules = 1, .servers = servers,
                               .n_servers = 4};
    slate_firewall_json(&f, &b);
    CHECK(valid_json(b.data, b.len));
    CHECK(strstr(b.data, "\"servers\":[1,3,9]") != NULL);
    slate_buf_reset(&b);

    struct slate_ssh_key k = {.id = 1, .bits = -1, .key_type = "x\x80"};
    slate_ssh_key_json(&k, &b);
    CHECK(valid_json(b.data, b.len));
    CHECK(strstr(b.data, "\"bits\":null") != NULL);
    slate_buf_free(&b);
}

TEST(from_json_errors_are_internal_and_append_nothing)
{
    const char *servers[] = {
        "",
        "{",
        "not json",
        "[]",
        "null",
        "{}",                                        /* no hetzner_id */
        "{\"hetzner_id\":\"42\"}",
        "{\"hetzner_id\":4.2}",
        "{\"hetzner_id\":1,\"name\":1}",
        "{\"hetzner_id\":1,\"labels\":[]}",
        "{\"hetzner_id\":1,\"firewalls\":[{\"status\":\"applied\"}]}",
        "{\"hetzner_id\":1,\"firewalls\":{}}",
        "{\"hetzner_id\":1} {\"hetzner_id\":2}",
        "{\"hetzner_id\":1} x",
    };
    for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++) {
        struct slate_inventory inv;
        slate_inventory_init(&inv);
        struct slate_err err;
        CHECK_INT(slate_server_from_asset_json(servers[i], strlen(servers[i]), &inv, &err), -1);
        CHECK_INT(err.code, SLATE_E_INTERNAL);
        CHECK(err.msg[0] != '\0');
        CHECK_INT(inv.n_servers, 0);
        slate_inventory_free(&inv);
    }
    const char *keys[] = {"{\"bits\":\"256\"}", "{\"bits\":1.5}", "{\"sha256\":[]}", "[1]"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct slate_inventory inv;
        slate_inventory_init(&inv);
        struct slate_err err;
        CHECK_INT(slate_ssh_key_from_json(1, keys[i], strlen(keys[i]), &inv, &err), -1);
        CHECK_INT(err.code, SLATE_E_INTERNAL);
        CHECK_INT(inv.n_ssh_keys, 0);
        slate_inventory_free(&inv);
    }
    const char *fws[] = {"{\"servers\":[\"1\"]}", "{\"rules\":[{\"port\":22}]}",
                         "{\"rules\":{}}", "{\"servers\":[1]}]"};
    for (size_t i = 0; i < sizeof fws / sizeof fws[0]; i++) {
        struct slate_inventory inv;
        slate_inventory_init(&inv);
        struct slate_err err;
        CHECK_INT(slate_firewall_from_json(1, fws[i], strlen(fws[i]), &inv, &err), -1);
        CHECK_INT(err.code, SLATE_E_INTERNAL);
        CHECK_INT(inv.n_firewalls, 0);
        slate_inventory_free(&inv);
    }
    /* The smallest values that parse. */
    struct slate_inventory inv;
    slate_inventory_init(&inv);
    struct slate_err err;
    CHECK_INT(slate_server_from_asset_json("{\"hetzner_id\":1}", 16, &inv, &err), 0);
    CHECK_INT(slate_ssh_key_from_json(2, "{}", 2, &inv, &err), 0);
    CHECK_INT(slate_firewall_from_json(3, "{}", 2, &inv, &err), 0);
    CHECK_INT(inv.n_servers, 1);
    CHECK_INT(inv.ssh_keys[0].id, 2);
    CHECK_INT(inv.ssh_keys[0].bits, -1);
    CHECK_INT(inv.firewalls[0].id, 3);
    slate_inventory_free(&inv);
}

UNIT_MAIN()
