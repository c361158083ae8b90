/**
 * The built renderer, served as static files: a request path becomes a file under the
 * renderer directory or a refusal (never a way out of it, not even through a symlink), with
 * the caching each kind of file needs (the page carries the token in its URL, so it is never
 * stored; assets revalidate by ETag).
 */
import { promises as fs, createReadStream, type Stats } from 'node:fs';
import type http from 'node:http';
import { pipeline } from 'node:stream';
import path from 'node:path';
import { ignore } from './httpAnswers';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.ico': 'image/x-icon', '.woff2': 'font/woff2',
};

/**
 * The renderer file a path names, as segments under the renderer directory, or the status to
 * refuse it with: 400 for a path that cannot be decoded or tries to leave (`..`, NUL,
 * backslash, encoded or not), 404 for dotfiles and empty segments.
 */
export function staticFile(pathname: string): string[] | 400 | 404 {
  if (pathname === '/') return ['index.html'];
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return 400;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return 400;
  const segments = decoded.slice(1).split('/');
  if (segments.some((s) => s === '..' || s === '.')) return 400;
  if (segments.some((s) => s === '' || s.startsWith('.'))) return 404;
  return segments;
}

/** Sends the file at `segments` under `root` (its real path), or answers 404 through `respond`. */
export async function sendFile(
  root: string, segments: string[], req: http.IncomingMessage, res: http.ServerResponse,
  headers: Record<string, string>, respond: (res: http.ServerResponse, status: number, message: string) => void,
): Promise<void> {
  let file: string;
  let stat: Stats;
  try {
    // realpath: a symlink inside the renderer directory cannot lead out of it either.
    file = await fs.realpath(path.join(root, ...segments));
    stat = await fs.stat(file);
  } catch {
    return respond(res, 404, 'not found');
  }
  if (!file.startsWith(root + path.sep) || !stat.isFile()) return respond(res, 404, 'not found');
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const isHtml = path.extname(file) === '.html';
  const fields: http.OutgoingHttpHeaders = {
    ...headers,
    // The page's URL carries the token: keep it out of the disk cache. Assets revalidate.
    'Cache-Control': isHtml ? 'no-store' : 'no-cache',
    ETag: etag,
  };
  const match = req.headers['if-none-match'];
  if (!isHtml && match !== undefined && match.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
    res.writeHead(304, fields).end();
    return;
  }
  res.writeHead(200, {
    ...fields,
    'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Content-Length': stat.size,
  });
  if (req.method === 'HEAD') { res.end(); return; }
  // pipeline, not pipe: a client that goes away mid-file also closes the file.
  pipeline(createReadStream(file), res, ignore);
}
