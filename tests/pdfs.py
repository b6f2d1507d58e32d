"""Hand-built PDFs for the tests: the shapes a scanner or an office suite would not write on purpose.

`build_pdf` writes numbered objects with a correct cross-reference table, so PDFium opens the
result without repairing it; each helper below makes one kind of hostile or odd document.
"""

from __future__ import annotations

import zlib


def build_pdf(objects: list[bytes], *, root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF of objects numbered from 1, in order, with an exact xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        trailer_extra,
        xref,
    )
    return bytes(out)


def stream(dictionary: bytes, data: bytes) -> bytes:
    """A stream object's body: its dictionary (without << >>) with /Length, then the bytes."""
    return b"<< %s /Length %d >>\nstream\n" % (dictionary, len(data)) + data + b"\nendstream"


def text_page_pdf(
    lines_per_page: list[list[str]], *, extra_catalog: bytes = b"", extra_page: bytes = b""
) -> bytes:
    """A born-digital PDF: each page a US letter with lines of Helvetica text."""
    count = len(lines_per_page)
    # 1 catalog, 2 pages, 3 font, then per page: page object, content stream.
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R %s >>" % extra_catalog,
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(lines_per_page):
        text = (
            b"BT /F1 14 Tf 72 720 Td 18 TL "
            + b"".join(
                b"(%s) '\n" % line.encode("latin-1").replace(b"(", b"\\(").replace(b")", b"\\)")
                for line in lines
            )
            + b"ET"
        )
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R %s >>" % (5 + 2 * i, extra_page)
        )
        objects.append(stream(b"", text))
    return build_pdf(objects)


def huge_image_pdf(width: int, height: int, *, filter_name: bytes = b"FlateDecode") -> bytes:
    """One letter page filled by a width x height grey image, Flate-compressed: tiny file, huge raster."""
    raster = zlib.compress(b"\x80" * (width * height), 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im0 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        stream(
            b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Filter /%s" % (width, height, filter_name),
            raster,
        ),
        stream(b"", b"q 612 0 0 792 0 0 cm /Im0 Do Q"),
    ]
    return build_pdf(objects)


# The padding string of the standard security handler (PDF 32000-1:2008, 7.6.3.3, Algorithm 2).
_PAD = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")


def _rc4(key: bytes, data: bytes) -> bytes:
    box = list(range(256))
    j = 0
    for i in range(256):
        j = (j + box[i] + key[i % len(key)]) % 256
        box[i], box[j] = box[j], box[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + box[i]) % 256
        box[i], box[j] = box[j], box[i]
        out.append(byte ^ box[(box[i] + box[j]) % 256])
    return bytes(out)


def encrypted_text_pdf(user_password: str, lines: list[str]) -> bytes:
    """A one-page text PDF under the standard security handler, revision 2 (40-bit RC4), which
    needs user_password to open: the algorithms of PDF 32000-1:2008, 7.6.3.3-7.6.3.4."""
    import hashlib

    def padded(password: str) -> bytes:
        return (password.encode("latin-1") + _PAD)[:32]

    file_id = hashlib.md5(b"docclass-test").digest()
    permissions = -44
    owner = _rc4(hashlib.md5(padded("owner")).digest()[:5], padded(user_password))
    key = hashlib.md5(
        padded(user_password) + owner + permissions.to_bytes(4, "little", signed=True) + file_id
    ).digest()[:5]
    user = _rc4(key, _PAD)

    def sealed(number: int, data: bytes) -> bytes:
        object_key = hashlib.md5(key + number.to_bytes(3, "little") + b"\x00\x00").digest()[:10]
        return _rc4(object_key, data)

    text = b"BT /F1 14 Tf 72 720 Td 18 TL " + b"".join(b"(%s) '\n" % line.encode() for line in lines) + b"ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
        b"/Contents 5 0 R >>",
        stream(b"", sealed(5, text)),
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (owner.hex().encode(), user.hex().encode(), permissions),
    ]
    return build_pdf(
        objects, trailer_extra=b"/Encrypt 6 0 R /ID [<%s> <%s>] " % ((file_id.hex().encode(),) * 2)
    )


def scripted_form_pdf() -> bytes:
    """A text page with an AcroForm text field and JavaScript run on open and on the field's focus."""
    field = (
        b"/Annots [<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (Jane Doe) /Rect [72 600 300 620] "
        b"/AA << /Fo << /S /JavaScript /JS (app.alert\\('focus'\\);) >> >> >>]"
    )
    return text_page_pdf(
        [["Application form", "Name:", "Signature:"]],
        extra_catalog=b"/OpenAction << /S /JavaScript /JS (app.alert\\('opened'\\);) >> /AcroForm << /Fields [] >>",
        extra_page=field,
    )


def drawing_bomb_pdf(shapes: int, repeats: int) -> bytes:
    """A letter page drawing one form of `shapes` rectangles `repeats` times, both streams Flate
    compressed: about a kilobyte on disk, shapes x repeats drawing operations for PDFium to load
    (10,000 x 1,000 took 37 s and 3.3 GB on these machines)."""
    form = zlib.compress(b"0 0 1 1 re f\n" * shapes, 9)
    content = zlib.compress(b"/Fm0 Do\n" * repeats, 9)
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /XObject << /Fm0 4 0 R >> >> /Contents 5 0 R >>",
            stream(b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Filter /FlateDecode", form),
            stream(b"/Filter /FlateDecode", content),
        ]
    )
