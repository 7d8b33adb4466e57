/**
 * Minimal RFC 4180 reading: comma-separated fields, fields may be quoted with `"`,
 * a quote inside a quoted field is written `""`, and a quoted field may span lines.
 * Both LF and CRLF line ends are accepted.
 */

/** One CSV record and the 1-based physical line it starts on. */
export type CsvRecord = { line: number; text: string };

/**
 * Splits a text into records. Blank lines are skipped. A record whose quotes are
 * not balanced at the end of the text is yielded as is (its fields will fail).
 */
export function* csvRecords(text: string): Generator<CsvRecord> {
  const lines = text.split('\n');
  let pending = '';
  let start = 0;
  let quotes = 0;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] ?? '';
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (pending === '' && quotes === 0) {
      if (line.trim() === '') continue;
      start = i + 1;
      pending = line;
    } else {
      pending += `\n${line}`;
    }
    quotes += countQuotes(line);
    if (quotes % 2 === 0) {
      yield { line: start, text: pending };
      pending = '';
      quotes = 0;
    }
  }
  if (pending !== '') yield { line: start, text: pending };
}

function countQuotes(line: string): number {
  let n = 0;
  for (let i = line.indexOf('"'); i !== -1; i = line.indexOf('"', i + 1)) n++;
  return n;
}

/** The fields of one record, or `undefined` when a quoted field is not closed. */
export function splitCsvFields(record: string): string[] | undefined {
  if (!record.includes('"')) return record.split(',');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (record[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const close = record.indexOf('"', j);
        if (close === -1) return undefined;
        value += record.slice(j, close);
        if (record[close + 1] === '"') {
          value += '"';
          j = close + 2;
        } else {
          j = close + 1;
          break;
        }
      }
      // Anything between the closing quote and the next comma is kept, leniently.
      const comma = record.indexOf(',', j);
      fields.push(value + record.slice(j, comma === -1 ? undefined : comma));
      if (comma === -1) return fields;
      i = comma + 1;
    } else {
      const comma = record.indexOf(',', i);
      fields.push(record.slice(i, comma === -1 ? undefined : comma));
      if (comma === -1) return fields;
      i = comma + 1;
    }
  }
}
