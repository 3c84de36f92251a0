// A small YAML reader for what this test reads: `kubectl kustomize` output (block style, as
// kustomize's kyaml writes it) and deploy/docker-compose.yaml. It handles block mappings and
// sequences, plain, quoted and block (| >) scalars, single-line flow collections, comments and
// `---` documents. Anything else (anchors, aliases, tags, multi-line flow collections, tabs)
// throws, naming the line: the check must fail loudly rather than read a file wrongly.
// No dependencies, so the check runs before any `npm install`.

export function parseAll(text, source = 'yaml') {
  const raw = text.replace(/\r\n?/g, '\n').split('\n');
  const docs = [];
  let current = [];
  const flush = () => {
    if (current.some((l) => !isBlankOrComment(l.text))) docs.push(new Parser(current, source).document());
    current = [];
  };
  raw.forEach((text, i) => {
    if (/^---(\s.*)?$/.test(text)) {
      flush();
      const rest = text.slice(3).trim();
      if (rest && !rest.startsWith('#')) throw new Error(`${source}:${i + 1}: content after --- is not supported`);
    } else if (/^\.\.\.\s*$/.test(text)) {
      flush();
    } else {
      current.push({ text, no: i + 1 });
    }
  });
  flush();
  return docs;
}

export function parse(text, source) {
  const docs = parseAll(text, source);
  if (docs.length !== 1) throw new Error(`${source}: expected one YAML document, found ${docs.length}`);
  return docs[0];
}

function isBlankOrComment(text) {
  const t = text.trim();
  return t === '' || t.startsWith('#');
}

function indentOf(text) {
  const m = /^( *)/.exec(text);
  if (text.length > m[1].length && text[m[1].length] === '\t') throw new Error('tab indentation');
  return m[1].length;
}

// `key: rest` or `key:` at the start of s (plain or quoted key); null when s is no mapping entry.
function splitKey(s) {
  let key;
  let after;
  if (s.startsWith('"')) {
    const end = scanDoubleQuoted(s, 0);
    if (end < 0) return null;
    key = unescapeDouble(s.slice(1, end));
    after = s.slice(end + 1);
  } else if (s.startsWith("'")) {
    const end = scanSingleQuoted(s, 0);
    if (end < 0) return null;
    key = s.slice(1, end).replace(/''/g, "'");
    after = s.slice(end + 1);
  } else {
    if (/^[-?:,\[\]{}#&*!|>%@`]/.test(s) && !/^-[^\s]/.test(s) && !/^[?:][^\s]/.test(s)) return null;
    const m = /^(.*?):(?:\s|$)/.exec(s);
    if (!m || m[1].includes(' #')) return null;
    key = m[1].trimEnd();
    if (key === '') return null;
    after = s.slice(m[1].length);
  }
  const m2 = /^\s*:(?:\s+|$)(.*)$/.exec(after);
  if (!m2) return null;
  return { key, rest: m2[1] };
}

function scanDoubleQuoted(s, start) {
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

function scanSingleQuoted(s, start) {
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === "'") {
      if (s[i + 1] === "'") i++;
      else return i;
    }
  }
  return -1;
}

const ESCAPES = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '/': '/', 0: '\0', a: '\x07', b: '\b', e: '\x1b', f: '\f', v: '\v', ' ': ' ', N: '\x85', _: '\xa0' };

function unescapeDouble(body) {
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e) => {
    if (e.length > 1) return String.fromCodePoint(parseInt(e.slice(1), 16));
    if (e in ESCAPES) return ESCAPES[e];
    throw new Error(`unknown escape \\${e}`);
  });
}

function stripComment(s) {
  // A comment starts with # after whitespace, outside quotes (only plain scalars get here).
  const m = /(^|\s)#/.exec(s);
  return (m ? s.slice(0, m.index) : s).trim();
}

function plainScalar(s) {
  if (/^[&*!]/.test(s)) throw new Error(`anchors, aliases and tags are not supported: ${s}`);
  if (/^(null|Null|NULL|~)?$/.test(s)) return null;
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (/^[-+]?[0-9]+$/.test(s)) return Number(s);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.slice(2), 8);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(s)) return NaN;
  return s;
}

// Flow collections and scalars on one line: [a, "b"], {k: v}, {} ...
function parseFlow(s) {
  let i = 0;
  const ws = () => {
    while (i < s.length && s[i] === ' ') i++;
  };
  const value = (stops) => {
    ws();
    if (s[i] === '[') {
      i++;
      const out = [];
      ws();
      if (s[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(',]'));
        ws();
        if (s[i] === ',') {
          i++;
          ws();
          if (s[i] === ']') {
            i++;
            return out;
          }
        } else if (s[i] === ']') {
          i++;
          return out;
        } else throw new Error(`bad flow sequence: ${s}`);
      }
    }
    if (s[i] === '{') {
      i++;
      const out = {};
      ws();
      if (s[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        const k = value(':,}');
        ws();
        let v = null;
        if (s[i] === ':') {
          i++;
          v = value(',}');
        }
        out[String(k)] = v;
        ws();
        if (s[i] === ',') {
          i++;
          ws();
          if (s[i] === '}') {
            i++;
            return out;
          }
        } else if (s[i] === '}') {
          i++;
          return out;
        } else throw new Error(`bad flow mapping: ${s}`);
      }
    }
    if (s[i] === '"') {
      const end = scanDoubleQuoted(s, i);
      if (end < 0) throw new Error(`unterminated string: ${s}`);
      const v = unescapeDouble(s.slice(i + 1, end));
      i = end + 1;
      return v;
    }
    if (s[i] === "'") {
      const end = scanSingleQuoted(s, i);
      if (end < 0) throw new Error(`unterminated string: ${s}`);
      const v = s.slice(i + 1, end).replace(/''/g, "'");
      i = end + 1;
      return v;
    }
    let j = i;
    while (j < s.length) {
      const c = s[j];
      if (c === ':') {
        const next = s[j + 1];
        if (stops.includes(':') && (next === undefined || next === ' ' || next === ',' || next === '}')) break;
      } else if (stops.includes(c)) break;
      j++;
    }
    const v = plainScalar(s.slice(i, j).trim());
    i = j;
    return v;
  };
  const v = value('');
  ws();
  if (i !== s.length) throw new Error(`unexpected text after flow value: ${s}`);
  return v;
}

class Parser {
  constructor(lines, source) {
    this.lines = lines.map((l) => ({ ...l }));
    this.i = 0;
    this.source = source;
  }

  err(msg, line) {
    const l = line || this.lines[Math.min(this.i, this.lines.length - 1)];
    return new Error(`${this.source}:${l ? l.no : '?'}: ${msg}`);
  }

  // The next line that is not blank or a comment, without consuming it.
  peek() {
    while (this.i < this.lines.length && isBlankOrComment(this.lines[this.i].text)) this.i++;
    if (this.i >= this.lines.length) return null;
    const l = this.lines[this.i];
    if (l.indent === undefined) {
      try {
        l.indent = indentOf(l.text);
      } catch (e) {
        throw this.err(e.message, l);
      }
      l.body = l.text.slice(l.indent);
    }
    return l;
  }

  document() {
    const l = this.peek();
    if (!l) return null;
    const v = this.node(l.indent);
    if (this.peek()) throw this.err('unexpected content (bad indentation?)');
    return v;
  }

  node(indent) {
    const l = this.peek();
    if (!l || l.indent < indent) return null;
    if (l.body === '-' || l.body.startsWith('- ')) return this.sequence(l.indent);
    if (splitKey(l.body)) return this.mapping(l.indent);
    this.i++;
    return this.inlineValue(l.body, l, l.indent - 1);
  }

  mapping(indent) {
    const out = {};
    for (;;) {
      const l = this.peek();
      if (!l || l.indent < indent) return out;
      if (l.indent > indent) throw this.err('bad indentation', l);
      if (l.body === '-' || l.body.startsWith('- ')) {
        // A sequence at the mapping's own indentation belongs to the previous key only.
        throw this.err('unexpected sequence item', l);
      }
      const kv = splitKey(l.body);
      if (!kv) throw this.err(`expected "key: value", got: ${l.body}`, l);
      if (Object.prototype.hasOwnProperty.call(out, kv.key)) throw this.err(`duplicate key ${kv.key}`, l);
      this.i++;
      out[kv.key] = this.valueAfterKey(kv.rest, l, indent);
    }
  }

  valueAfterKey(rest, l, indent) {
    const r = rest.trim();
    if (r === '' || r.startsWith('#')) {
      const n = this.peek();
      if (!n) return null;
      if (n.indent === indent && (n.body === '-' || n.body.startsWith('- '))) return this.sequence(indent);
      if (n.indent > indent) return this.node(n.indent);
      return null;
    }
    return this.inlineValue(r, l, indent);
  }

  // A value that starts on line l (after "key:" or "- "); parentIndent is the owner's column.
  inlineValue(r, l, parentIndent) {
    if (/^[|>]/.test(r)) return this.blockScalar(r, l, parentIndent);
    if (r.startsWith('[') || r.startsWith('{')) {
      try {
        return parseFlow(stripFlowComment(r));
      } catch (e) {
        throw this.err(e.message, l);
      }
    }
    if (r.startsWith('"') || r.startsWith("'")) return this.quoted(r, l);
    let s = stripComment(r);
    // Plain scalars may continue on more indented lines (folded with spaces).
    for (;;) {
      const n = this.peek();
      if (!n || n.indent <= parentIndent) break;
      if (splitKey(n.body) || n.body.startsWith('- ')) throw this.err('bad indentation', n);
      s += ' ' + stripComment(n.body);
      this.i++;
    }
    try {
      return plainScalar(s);
    } catch (e) {
      throw this.err(e.message, l);
    }
  }

  quoted(r, l) {
    const dq = r.startsWith('"');
    let text = r;
    for (;;) {
      const end = dq ? scanDoubleQuoted(text, 0) : scanSingleQuoted(text, 0);
      if (end >= 0) {
        const tail = text.slice(end + 1).trim();
        if (tail && !tail.startsWith('#')) throw this.err(`unexpected text after string: ${tail}`, l);
        const body = text.slice(1, end);
        return dq ? unescapeDouble(body) : body.replace(/''/g, "'");
      }
      // A quoted scalar over several lines: line breaks fold into spaces.
      if (this.i >= this.lines.length) throw this.err('unterminated string', l);
      const next = this.lines[this.i++].text.trim();
      text = next === '' ? text + '\n' : text.endsWith('\n') ? text + next : text + ' ' + next;
    }
  }

  blockScalar(header, l, parentIndent) {
    const m = /^([|>])([+-]?)([1-9]?)([+-]?)\s*(#.*)?$/.exec(header);
    if (!m) throw this.err(`bad block scalar header: ${header}`, l);
    const folded = m[1] === '>';
    const chomp = m[2] || m[4];
    let contentIndent = m[3] ? parentIndent + Number(m[3]) : -1;
    const body = [];
    while (this.i < this.lines.length) {
      const t = this.lines[this.i].text;
      if (t.trim() === '') {
        body.push('');
        this.i++;
        continue;
      }
      const ind = indentOf(t);
      if (contentIndent < 0) {
        if (ind <= parentIndent) break;
        contentIndent = ind;
      }
      if (ind < contentIndent) break;
      body.push(t.slice(contentIndent));
      this.i++;
    }
    // Trailing blank lines belong to the chomping rule, not to the next node.
    let trailing = 0;
    while (body.length && body[body.length - 1] === '') {
      body.pop();
      trailing++;
    }
    let text;
    if (folded) {
      text = '';
      body.forEach((line, k) => {
        if (k === 0) text = line;
        else if (line === '' || line.startsWith(' ')) text += '\n' + line;
        else if (body[k - 1] === '' || body[k - 1].startsWith(' ')) text += (body[k - 1] === '' ? '' : '\n') + line;
        else text += ' ' + line;
      });
    } else {
      text = body.join('\n');
    }
    if (chomp === '-') return text;
    if (chomp === '+') return text + '\n'.repeat(trailing + (body.length ? 1 : 0));
    return body.length ? text + '\n' : '';
  }

  sequence(indent) {
    const out = [];
    for (;;) {
      const l = this.peek();
      if (!l || l.indent < indent) return out;
      if (l.indent > indent) throw this.err('bad indentation', l);
      if (!(l.body === '-' || l.body.startsWith('- '))) return out;
      const rest = l.body.slice(1);
      const offset = rest.length - rest.trimStart().length;
      const r = rest.trim();
      if (r === '' || r.startsWith('#')) {
        this.i++;
        const n = this.peek();
        out.push(n && n.indent > indent ? this.node(n.indent) : null);
        continue;
      }
      if (r.startsWith('- ') || r === '-' || (splitKey(r) && !/^[\[{]/.test(r))) {
        // "- key: value" or "- - x": the item is a node starting at the column after "- ".
        l.indent = indent + 1 + offset;
        l.body = r;
        l.text = ' '.repeat(l.indent) + r;
        out.push(this.node(l.indent));
        continue;
      }
      this.i++;
      out.push(this.inlineValue(r, l, indent));
    }
  }
}

function stripFlowComment(r) {
  // Only single-line flow collections: drop a trailing comment after the closing bracket.
  const m = /^(.*[\]}])\s*(#.*)?$/.exec(r);
  return m ? m[1] : r;
}
