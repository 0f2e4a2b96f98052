/* libFuzzer target for the process pool's result frames (executors/wire.c).
 *
 * The input plays a worker's socket stream. Its first five bytes set what
 * the parent expects: byte 0 the item count of the outstanding job (0: a
 * single job, 1..7: a map chunk of that many items), bytes 1..4 the seq of
 * that job (native order). The rest is read the way the collector reads it
 * (process_pool.c: parse_locked, frame_locked): a 48-byte header checked
 * with corio__wire_check_res; if accepted, a body of len + msglen bytes,
 * handled by kind (batch payloads decoded with corio__wire_decode_batch);
 * the next frame answers the next job (seq + 1). A rejected header ends the
 * stream, as the parent then kills the worker; a body that has not fully
 * arrived ends it too (the parent would wait for more).
 *
 * Every body is passed in a heap block of exactly its size, so reading past
 * it is an ASan report. Beyond crashes, the target aborts when a property
 * fails: a rejection returns CORIO_EPROTOCOL with a non-empty, terminated
 * description; an accepted header respects every limit; a decoded batch has
 * the expected item count, values inside the payload, no value on a failed
 * item, and messages within the message limit. The payload is then also
 * fed to the batch decoder directly, so its own checks see short inputs. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok) {
    if (!ok)
        abort();
}

/* corio__batch_free lives in executor.c with the rest of the executor; the
 * target links only wire.c. Decoded batches carry no destructors. */
static void batch_free(corio__batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        require(b->items[i].value.dtor == NULL);
        free(b->items[i].message);
    }
    free(b);
}

static uint8_t *dup_exact(const uint8_t *p, size_t n) {
    uint8_t *d = malloc(n ? n : 1);
    require(d != NULL);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* A rejection's description: non-empty and terminated inside the buffer. */
static void check_err(const char *err, size_t errlen) {
    require(err[0] != '\0');
    require(memchr(err, '\0', errlen) != NULL);
}

/* Decode a batch payload and check what comes out. The sum of the
 * items' data is at most the payload, and every value lies inside the
 * decoded block (one allocation, data after the items). */
static void decode(const uint8_t *payload, size_t len, size_t n) {
    uint8_t *p = dup_exact(payload, len);
    corio__batch *b = NULL;
    char err[256];
    err[0] = '\0';
    int r = corio__wire_decode_batch(p, len, n, &b, err, sizeof err);
    if (r == 0) {
        require(b != NULL && b->n == n);
        size_t head = sizeof(corio__batch) + n * sizeof(corio__batch_item), data = 0;
        const unsigned char *lo = (const unsigned char *)b + head;
        for (size_t i = 0; i < n; i++) {
            const corio__batch_item *it = &b->items[i];
            require(it->code <= 0);
            if (it->code < 0) {
                require(it->value.ptr == NULL);
                if (it->message)
                    require(strlen(it->message) <= CORIO__WIRE_MAX_MSG);
            } else {
                require(it->message == NULL);
            }
            if (it->value.len) {
                const unsigned char *v = it->value.ptr;
                require(v >= lo + data && v + it->value.len <= lo + len);
                volatile unsigned char sum = 0;
                for (size_t k = 0; k < it->value.len; k++) /* ASan checks each byte */
                    sum = (unsigned char)(sum + v[k]);
                (void)sum;
                data += it->value.len;
            }
        }
        require(data <= len);
        batch_free(b);
    } else {
        require(b == NULL);
        require(r == CORIO_EPROTOCOL || r == -ENOMEM);
        if (r == CORIO_EPROTOCOL)
            check_err(err, sizeof err);
    }
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5)
        return 0;
    size_t nitems = data[0] & 7;
    uint32_t seq;
    memcpy(&seq, data + 1, sizeof seq);
    const uint8_t *in = data + 5;
    size_t left = size - 5;

    /* The stream, frame by frame. */
    while (left >= sizeof(corio__res_hdr)) {
        corio__res_hdr h;
        memcpy(&h, in, sizeof h);
        char err[256];
        err[0] = '\0';
        int r = corio__wire_check_res(&h, seq, nitems, err, sizeof err);
        if (r < 0) {
            require(r == CORIO_EPROTOCOL);
            check_err(err, sizeof err);
            break;
        }
        require(r == 0 && h.magic == CORIO__RES_MAGIC && h.msglen <= CORIO__WIRE_MAX_MSG);
        if (h.kind == CORIO__RES_INIT_FAIL) {
            require(h.len == 0);
        } else {
            require(h.kind == CORIO__RES_ONE || h.kind == CORIO__RES_BATCH);
            require(h.seq == seq && h.len <= CORIO__WIRE_MAX_PAYLOAD && h.code <= 0);
            require((h.kind == CORIO__RES_BATCH) == (nitems > 0));
            if (h.kind == CORIO__RES_BATCH)
                require(h.ptr == nitems);
            else if (h.code < 0)
                require(h.len == 0);
        }
        /* The parent sizes the body from the checked lengths. */
        size_t body = (size_t)h.len + h.msglen;
        in += sizeof h;
        left -= sizeof h;
        if (left < body)
            break; /* not all here yet: the parent waits for the rest */
        uint8_t *b = dup_exact(in, body);
        const char *msg = (const char *)b + h.len;
        if (h.kind == CORIO__RES_INIT_FAIL || h.code < 0) {
            /* The parent copies the message into the failure. */
            char *m = malloc((size_t)h.msglen + 1);
            require(m != NULL);
            memcpy(m, msg, h.msglen);
            m[h.msglen] = '\0';
            free(m);
        }
        if (h.kind == CORIO__RES_BATCH && h.code == 0)
            decode(b, (size_t)h.len, nitems);
        free(b);
        in += body;
        left -= body;
        if (h.kind == CORIO__RES_INIT_FAIL)
            break; /* the pool is broken: nothing more is read */
        seq++;
    }

    /* The batch decoder straight on the bytes after the prefix, for counts
     * 0..7, so its own bounds checks meet every short input. */
    decode(data + 5, size - 5, nitems);
    if (nitems)
        decode(data + 5, size - 5, nitems - 1);
    return 0;
}
