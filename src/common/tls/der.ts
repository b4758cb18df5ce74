/**
 * A minimal DER reader: just enough to take a PKCS#10 request apart (TBS bytes, public key,
 * signature algorithm, signature) so the CA checks a CSR with Node's OpenSSL-backed
 * crypto.verify instead of a full ASN.1 object model (10x faster, see docs/dependencies.md).
 * Definite lengths only (DER); every read is bounds-checked and returns null on bad input.
 */

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

/** Reads one TLV at `offset` that must end within `limit`. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv | null {
  if (offset + 2 > limit) return null;
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) return null; // multi-byte tags never occur in the structures we read
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > limit) return null;
  return { tag, start: offset, contentStart: p, end: p + len };
}

/** The children of a constructed TLV, or null if they do not tile its content exactly. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] | null {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    if (!t) return null;
    out.push(t);
    p = t.end;
  }
  return out;
}

export const TAG_SEQUENCE = 0x30;
export const TAG_OID = 0x06;
export const TAG_BIT_STRING = 0x03;

export interface Pkcs10Parts {
  /** DER of CertificationRequestInfo: the signed bytes. */
  readonly tbs: Buffer;
  /** DER of SubjectPublicKeyInfo. */
  readonly spki: Buffer;
  /** Content bytes of the signature algorithm OID. */
  readonly signatureOid: Buffer;
  /** The signature (BIT STRING content without the unused-bits octet). */
  readonly signature: Buffer;
}

/** Splits a DER CertificationRequest (RFC 2986) into the parts needed to check it. */
export function pkcs10Parts(der: Buffer): Pkcs10Parts | null {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== TAG_SEQUENCE || outer.end !== der.length) return null;
  const top = children(der, outer);
  if (!top || top.length !== 3) return null;
  const [info, alg, sig] = top as [Tlv, Tlv, Tlv];
  if (info.tag !== TAG_SEQUENCE || alg.tag !== TAG_SEQUENCE || sig.tag !== TAG_BIT_STRING) return null;
  const infoKids = children(der, info);
  if (!infoKids || infoKids.length < 3) return null;
  const spki = infoKids[2]!;
  if (spki.tag !== TAG_SEQUENCE) return null;
  const algKids = children(der, alg);
  const oid = algKids?.[0];
  if (!oid || oid.tag !== TAG_OID) return null;
  if (sig.end - sig.contentStart < 2 || der[sig.contentStart] !== 0) return null;
  return {
    tbs: der.subarray(info.start, info.end),
    spki: der.subarray(spki.start, spki.end),
    signatureOid: der.subarray(oid.contentStart, oid.end),
    signature: der.subarray(sig.contentStart + 1, sig.end),
  };
}
