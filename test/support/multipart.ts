/** multipart/form-data parsing for the chat API fakes. */

/** One part of a multipart/form-data body. */
export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** Splits a multipart/form-data body (as telegraf and @slack/web-api send file uploads). */
export function parseMultipart(buf: Buffer, boundary: string): MultipartPart[] {
  const parts: MultipartPart[] = [];
  const delim = Buffer.from(`--${boundary}`);
  const sep = Buffer.from(`\r\n--${boundary}`);
  let pos = buf.indexOf(delim);
  while (pos >= 0) {
    pos += delim.length;
    if (buf[pos] === 0x2d && buf[pos + 1] === 0x2d) break;
    if (buf[pos] === 0x0d && buf[pos + 1] === 0x0a) pos += 2;
    const headEnd = buf.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) break;
    const headers: Record<string, string> = {};
    for (const line of buf.subarray(pos, headEnd).toString('utf8').split('\r\n')) {
      const c = line.indexOf(':');
      if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    const next = buf.indexOf(sep, headEnd + 4);
    if (next < 0) break;
    const cd = headers['content-disposition'] ?? '';
    const name = /\bname="([^"]*)"/i.exec(cd)?.[1] ?? '';
    const filename = /\bfilename="([^"]*)"/i.exec(cd)?.[1];
    parts.push({ name, filename, contentType: headers['content-type'], data: buf.subarray(headEnd + 4, next) });
    pos = next + 2;
  }
  return parts;
}
