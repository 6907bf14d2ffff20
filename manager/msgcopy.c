/*
 * manager/msgcopy.c - deep copies of protobuf-c messages in one allocation.
 *
 * Every object in the store is such a copy: apply builds the new version of
 * an object as a shallow struct borrowing from the old version and from the
 * command, then copies it here. A copy is one malloc'd block laid out as
 * [message struct][its strings, bytes, arrays and sub-messages...], so
 * freeing it is one free() and copying it costs two walks of the message
 * (size, then copy) instead of packing it to the wire format and unpacking
 * that again with a malloc per string and sub-message. Under a stream of
 * node updates the pack + unpack + free_unpacked was the largest part of a
 * follower's work.
 *
 * The walk follows the descriptors the way protobuf-c's own free does:
 * a string or bytes field still pointing at its descriptor default is left
 * pointing there (static), oneof members are copied only when selected, and
 * unknown fields (from a newer peer's snapshot) are kept.
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/store.h"

#define MEMBER(type, msg, off) (*(type *)((char *)(msg) + (off)))

struct arena {
    char *p;
};

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static void *take(struct arena *a, size_t n)
{
    void *r = a->p;

    a->p += round8(n);
    return r;
}

static size_t elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4; /* 32-bit integers, float, enum */
    }
}

/* Is field f of msg set, as far as copying goes (oneof: the selected one)? */
static bool selected(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return true;
    return MEMBER(uint32_t, msg, f->quantifier_offset) == f->id;
}

static bool own_string(const char *s, const ProtobufCFieldDescriptor *f)
{
    return s && s != (const char *)f->default_value;
}

static bool own_bytes(const ProtobufCBinaryData *b, const ProtobufCFieldDescriptor *f)
{
    const ProtobufCBinaryData *def = f->default_value;

    return b->data && b->len && !(def && b->data == def->data);
}

static size_t msg_size(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    size_t n = round8(d->sizeof_message);

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t cnt = MEMBER(size_t, msg, f->quantifier_offset);
            void *arr = MEMBER(void *, msg, f->offset);
            if (!cnt || !arr)
                continue;
            n += round8(cnt * elt_size(f->type));
            for (size_t j = 0; j < cnt; j++) {
                if (f->type == PROTOBUF_C_TYPE_STRING) {
                    const char *s = ((char **)arr)[j];
                    n += s ? round8(strlen(s) + 1) : 0;
                } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
                    n += round8(((ProtobufCBinaryData *)arr)[j].len);
                } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                    const ProtobufCMessage *m = ((ProtobufCMessage **)arr)[j];
                    n += m ? msg_size(m) : 0;
                }
            }
        } else if (!selected(msg, f)) {
            continue;
        } else if (f->type == PROTOBUF_C_TYPE_STRING) {
            const char *s = MEMBER(char *, msg, f->offset);
            if (own_string(s, f))
                n += round8(strlen(s) + 1);
        } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
            const ProtobufCBinaryData *b = &MEMBER(ProtobufCBinaryData, msg, f->offset);
            if (own_bytes(b, f))
                n += round8(b->len);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *m = MEMBER(ProtobufCMessage *, msg, f->offset);
            if (m)
                n += msg_size(m);
        }
    }
    if (msg->n_unknown_fields) {
        n += round8(msg->n_unknown_fields * sizeof(ProtobufCMessageUnknownField));
        for (unsigned i = 0; i < msg->n_unknown_fields; i++)
            n += round8(msg->unknown_fields[i].len);
    }
    return n;
}

static char *copy_str(struct arena *a, const char *s)
{
    size_t len;

    if (!s)
        return NULL;
    len = strlen(s) + 1;
    return memcpy(take(a, len), s, len);
}

static void copy_bytes(struct arena *a, ProtobufCBinaryData *dst, const ProtobufCBinaryData *src)
{
    dst->len = src->len;
    dst->data = src->len ? memcpy(take(a, src->len), src->data, src->len) : NULL;
}

static ProtobufCMessage *msg_copy(struct arena *a, const ProtobufCMessage *src)
{
    const ProtobufCMessageDescriptor *d = src->descriptor;
    ProtobufCMessage *dst = memcpy(take(a, d->sizeof_message), src, d->sizeof_message);

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t cnt = MEMBER(size_t, src, f->quantifier_offset);
            void *from = MEMBER(void *, src, f->offset), *to;
            if (!cnt || !from) {
                MEMBER(size_t, dst, f->quantifier_offset) = 0;
                MEMBER(void *, dst, f->offset) = NULL;
                continue;
            }
            to = memcpy(take(a, cnt * elt_size(f->type)), from, cnt * elt_size(f->type));
            MEMBER(void *, dst, f->offset) = to;
            for (size_t j = 0; j < cnt; j++) {
                if (f->type == PROTOBUF_C_TYPE_STRING) {
                    ((char **)to)[j] = copy_str(a, ((char **)from)[j]);
                } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
                    copy_bytes(a, &((ProtobufCBinaryData *)to)[j],
                               &((ProtobufCBinaryData *)from)[j]);
                } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                    const ProtobufCMessage *m = ((ProtobufCMessage **)from)[j];
                    ((ProtobufCMessage **)to)[j] = m ? msg_copy(a, m) : NULL;
                }
            }
        } else if (!selected(src, f)) {
            continue;
        } else if (f->type == PROTOBUF_C_TYPE_STRING) {
            const char *s = MEMBER(char *, src, f->offset);
            if (own_string(s, f))
                MEMBER(char *, dst, f->offset) = copy_str(a, s);
        } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
            const ProtobufCBinaryData *b = &MEMBER(ProtobufCBinaryData, src, f->offset);
            if (own_bytes(b, f))
                copy_bytes(a, &MEMBER(ProtobufCBinaryData, dst, f->offset), b);
            else if (!b->len || !b->data)
                MEMBER(ProtobufCBinaryData, dst, f->offset) = (ProtobufCBinaryData){0, NULL};
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *m = MEMBER(ProtobufCMessage *, src, f->offset);
            if (m)
                MEMBER(ProtobufCMessage *, dst, f->offset) = msg_copy(a, m);
        }
    }
    if (src->n_unknown_fields) {
        ProtobufCMessageUnknownField *u =
            take(a, src->n_unknown_fields * sizeof(ProtobufCMessageUnknownField));
        for (unsigned i = 0; i < src->n_unknown_fields; i++) {
            const ProtobufCMessageUnknownField *s = &src->unknown_fields[i];
            u[i] = *s;
            u[i].data = s->len ? memcpy(take(a, s->len), s->data, s->len) : NULL;
        }
        dst->unknown_fields = u;
    } else {
        dst->unknown_fields = NULL;
    }
    return dst;
}

void *mgr_msg_dup(const void *msg)
{
    const ProtobufCMessage *m = msg;
    struct arena a;
    size_t n;
    void *block;

    _Static_assert(alignof(max_align_t) >= 8, "malloc alignment");
    if (!m)
        return NULL;
    n = msg_size(m);
    block = malloc(n);
    if (!block)
        return NULL;
    a.p = block;
    msg_copy(&a, m);
    return block;
}

void mgr_msg_free(void *msg)
{
    free(msg);
}
