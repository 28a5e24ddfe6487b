"""Text files as people save them (Dagster-free): UTF-8 with or without a BOM, UTF-16 with a
BOM, or re-saved by a spreadsheet in Windows-1252, read as UTF-8 for the CSV readers of every
landing zone that takes CSVs (charts, catalog datasets)."""

from __future__ import annotations

import codecs

from spotify_assets.lib.landing import BadFile

#: Leading bytes of the binary files people drop by mistake beside their text files.
_BINARY_KINDS = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a zip archive (or an .xlsx workbook): unzip it, or save it as CSV"),
    (b"\x1f\x8b", "a gzip file: decompress it"),
    (b"BZh", "a bzip2 file: decompress it"),
    (b"7z\xbc\xaf", "a 7-Zip archive: unpack it"),
    (b"Rar!", "a RAR archive: unpack it"),
    (b"{\\rtf", "an RTF document"),
)


def binary_kind(data: bytes) -> str | None:
    """What a binary file is, from its first bytes (with what to do), or None."""
    return next((kind for magic, kind in _BINARY_KINDS if data.startswith(magic)), None)


def csv_as_utf8(data: bytes, name: str) -> tuple[bytes, str]:
    """A CSV file as UTF-8 bytes without a BOM and with ``\n`` line ends (Windows ``\r\n``
    and old-Mac ``\r`` ones too, which Python's csv module refuses), and the encoding it was
    read as; a file that is binary or no known text raises
    :class:`~spotify_assets.lib.landing.BadFile` naming ``name`` (and the line)."""
    kind = binary_kind(data)
    if kind is not None:
        raise BadFile(f"{name}: not a CSV text file but {kind}")
    text, encoding = _as_utf8(data, name)
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return text, encoding


def _as_utf8(data: bytes, name: str) -> tuple[bytes, str]:
    if data.startswith(codecs.BOM_UTF8):
        data, encoding = data[3:], "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16's
        try:
            return data.decode("utf-32").encode("utf-8"), "utf-32"
        except UnicodeDecodeError as exc:
            raise BadFile(f"{name}: starts as UTF-32 but is not ({exc})") from None
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").encode("utf-8"), "utf-16"
        except UnicodeDecodeError as exc:
            raise BadFile(f"{name}: starts as UTF-16 but is not ({exc})") from None
    else:
        encoding = "utf-8"
    if b"\x00" in data[:4096]:
        raise BadFile(f"{name}: binary data (NUL bytes), not a CSV text file")
    try:
        data.decode("utf-8")
        return data, encoding
    except UnicodeDecodeError:
        pass
    # Re-saved by a spreadsheet: Windows-1252 (a superset of Latin-1's printable characters),
    # line by line, so UTF-8 lines of a file that mixes both stay UTF-8.
    out, legacy, utf8 = [], 0, 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            out.append(line.decode("utf-8"))
            utf8 += not line.isascii()
        except UnicodeDecodeError:
            try:
                out.append(line.decode("cp1252"))
                legacy += 1
            except UnicodeDecodeError as exc:
                raise BadFile(
                    f"{name}: line {number} is neither UTF-8 nor Windows-1252/Latin-1 text "
                    f"({exc.reason} at byte {exc.start}); save the file as UTF-8 CSV"
                ) from None
    return "\n".join(out).encode("utf-8"), "utf-8+cp1252" if utf8 else "cp1252"
