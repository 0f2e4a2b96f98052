/* corio — validation and decoding of process-pool result frames.
 *
 * Everything a worker sends is checked before the parent trusts it: a job
 * may scribble on its socket, or die half-way through a frame. A frame that
 * fails these checks fails its job with CORIO_EPROTOCOL; it never crashes
 * the parent. tests/fuzz/fuzz_wire.c feeds these functions arbitrary bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "fault.h"

int corio__wire_check_res(const corio__res_hdr *h, uint32_t seq, size_t nitems, char *err,
                          size_t errlen) {
    if (h->magic != CORIO__RES_MAGIC) {
        snprintf(err, errlen, "bad frame magic 0x%08x", (unsigned)h->magic);
        return CORIO_EPROTOCOL;
    }
    if (h->kind == CORIO__RES_INIT_FAIL) {
        if (h->msglen > CORIO__WIRE_MAX_MSG || h->len != 0) {
            snprintf(err, errlen, "malformed initializer report");
            return CORIO_EPROTOCOL;
        }
        return 0;
    }
    if (h->kind != CORIO__RES_ONE && h->kind != CORIO__RES_BATCH) {
        snprintf(err, errlen, "unknown frame kind %u", (unsigned)h->kind);
        return CORIO_EPROTOCOL;
    }
    if (h->seq != seq) {
        snprintf(err, errlen, "answer to job #%u where job #%u was expected", (unsigned)h->seq,
                 (unsigned)seq);
        return CORIO_EPROTOCOL;
    }
    if (h->msglen > CORIO__WIRE_MAX_MSG) {
        snprintf(err, errlen, "message length %u over the %u-byte limit", (unsigned)h->msglen,
                 CORIO__WIRE_MAX_MSG);
        return CORIO_EPROTOCOL;
    }
    if (h->len > CORIO__WIRE_MAX_PAYLOAD) {
        snprintf(err, errlen, "payload length %llu over the %llu-byte limit",
                 (unsigned long long)h->len, (unsigned long long)CORIO__WIRE_MAX_PAYLOAD);
        return CORIO_EPROTOCOL;
    }
    if ((h->kind == CORIO__RES_BATCH) != (nitems > 0)) {
        snprintf(err, errlen, "%s answer to a %s job",
                 h->kind == CORIO__RES_BATCH ? "batch" : "single", nitems ? "batch" : "single");
        return CORIO_EPROTOCOL;
    }
    if (h->kind == CORIO__RES_BATCH && h->ptr != nitems) {
        snprintf(err, errlen, "batch answer with %llu items for a job of %zu",
                 (unsigned long long)h->ptr, nitems);
        return CORIO_EPROTOCOL;
    }
    if (h->code > 0) {
        snprintf(err, errlen, "positive failure code %d", (int)h->code);
        return CORIO_EPROTOCOL;
    }
    if (h->kind == CORIO__RES_ONE && h->code < 0 && h->len != 0) {
        snprintf(err, errlen, "failed job with a %llu-byte value", (unsigned long long)h->len);
        return CORIO_EPROTOCOL;
    }
    return 0;
}

int corio__wire_decode_batch(const void *payload, size_t len, size_t n, corio__batch **out,
                             char *err, size_t errlen) {
    const unsigned char *p = payload, *end = p + len;
    *out = NULL;
    if (n && len % sizeof(uint64_t) == 0 && len / sizeof(uint64_t) == n) {
        /* Compact: n bare result pointers (a map over pointers whose items
         * all succeeded), a third of the full form's bytes. */
        corio__batch *b = corio__malloc(sizeof(corio__batch) + n * sizeof(corio__batch_item));
        if (!b)
            return -ENOMEM;
        b->n = n;
        for (size_t i = 0; i < n; i++) {
            uint64_t w;
            memcpy(&w, p + i * sizeof w, sizeof w);
            b->items[i] = (corio__batch_item){.value = {(void *)(uintptr_t)w, 0, NULL}};
        }
        *out = b;
        return 0;
    }
    /* First pass: validate and size the data. */
    size_t data = 0;
    const unsigned char *q = p;
    for (size_t i = 0; i < n; i++) {
        corio__res_item it;
        if ((size_t)(end - q) < sizeof it) {
            snprintf(err, errlen, "batch item %zu of %zu truncated", i, n);
            return CORIO_EPROTOCOL;
        }
        memcpy(&it, q, sizeof it);
        q += sizeof it;
        if (it.msglen > CORIO__WIRE_MAX_MSG || it.len > (size_t)(end - q) ||
            it.msglen > (size_t)(end - q) - it.len || it.code > 0 || (it.code < 0 && it.len)) {
            snprintf(err, errlen, "batch item %zu of %zu malformed", i, n);
            return CORIO_EPROTOCOL;
        }
        q += it.len + it.msglen;
        data += it.len;
    }
    if (q != end) {
        snprintf(err, errlen, "%zu stray bytes after a batch of %zu", (size_t)(end - q), n);
        return CORIO_EPROTOCOL;
    }
    /* One allocation: the batch, its items, then their data. The items'
     * values point into it and carry no destructor. */
    size_t head = sizeof(corio__batch) + n * sizeof(corio__batch_item);
    corio__batch *b = corio__malloc(head + data);
    if (!b)
        return -ENOMEM;
    b->n = n;
    unsigned char *d = (unsigned char *)b + head;
    q = p;
    for (size_t i = 0; i < n; i++) {
        corio__res_item it;
        memcpy(&it, q, sizeof it);
        q += sizeof it;
        corio__batch_item *bi = &b->items[i];
        bi->arg = NULL;
        bi->code = it.code;
        bi->message = NULL;
        bi->value.dtor = NULL;
        bi->value.len = it.len;
        if (it.len) {
            memcpy(d, q, it.len);
            bi->value.ptr = d;
            d += it.len;
        } else {
            bi->value.ptr = (void *)(uintptr_t)it.ptr;
        }
        q += it.len;
        if (it.code < 0) {
            bi->value.ptr = NULL;
            if (it.msglen) {
                bi->message = corio__malloc(it.msglen + 1);
                if (bi->message) {
                    memcpy(bi->message, q, it.msglen);
                    bi->message[it.msglen] = '\0';
                }
            }
        }
        q += it.msglen;
    }
    *out = b;
    return 0;
}
