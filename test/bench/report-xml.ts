// A well-formedness check for the SVG the bench writes (no XML parser among the
// dependencies): every tag closed in order, attributes quoted, no bare `&` or `<` in text.
export function assertWellFormedXml(xml: string): void {
  const stack: string[] = [];
  const tokens = xml.split(/(<[^>]*>)/);
  for (const token of tokens) {
    if (!token.startsWith('<')) {
      if (/[<>]/.test(token)) throw new Error(`raw < or > in text: ${token.slice(0, 60)}`);
      if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(token)) throw new Error(`bare & in text: ${token.slice(0, 60)}`);
      continue;
    }
    if (token.startsWith('<?') || token.startsWith('<!--')) continue;
    const close = /^<\/([\w:-]+)\s*>$/.exec(token);
    if (close) {
      const open = stack.pop();
      if (open !== close[1]) throw new Error(`</${close[1]}> closes <${open ?? 'nothing'}>`);
      continue;
    }
    const open = /^<([\w:-]+)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>$/.exec(token);
    if (!open) throw new Error(`malformed tag: ${token.slice(0, 80)}`);
    if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(open[2]!)) throw new Error(`bare & in attribute: ${token.slice(0, 80)}`);
    if (open[3] !== '/') stack.push(open[1]!);
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(' > ')}`);
  if (!/^\s*<svg[\s>]/.test(xml)) throw new Error('not an <svg> document');
}
