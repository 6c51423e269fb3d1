import type { Editor } from '@tiptap/core';
import { h } from './dom';

interface Tool {
  id: string;
  label: string;
  title: string;
  run: (e: Editor) => boolean;
  active?: (e: Editor) => boolean;
  can?: (e: Editor) => boolean;
  cls?: string;
}

const LINK_ICON =
  '<svg width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71"/><path d="M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71"/></svg>';

const chain = (e: Editor) => e.chain().focus();

const TOOLS: (Tool | '|')[] = [
  { id: 'undo', label: '↶', title: 'Undo your last change (Ctrl+Z)', run: (e) => chain(e).undo().run(), can: (e) => e.can().undo() },
  { id: 'redo', label: '↷', title: 'Redo (Ctrl+Shift+Z)', run: (e) => chain(e).redo().run(), can: (e) => e.can().redo() },
  '|',
  { id: 'paragraph', label: 'Text', title: 'Normal text', run: (e) => chain(e).setParagraph().run(), active: (e) => e.isActive('paragraph') },
  { id: 'h1', label: 'H1', title: 'Heading 1', run: (e) => chain(e).toggleHeading({ level: 1 }).run(), active: (e) => e.isActive('heading', { level: 1 }) },
  { id: 'h2', label: 'H2', title: 'Heading 2', run: (e) => chain(e).toggleHeading({ level: 2 }).run(), active: (e) => e.isActive('heading', { level: 2 }) },
  { id: 'h3', label: 'H3', title: 'Heading 3', run: (e) => chain(e).toggleHeading({ level: 3 }).run(), active: (e) => e.isActive('heading', { level: 3 }) },
  '|',
  { id: 'bold', label: 'B', title: 'Bold (Ctrl+B)', cls: 'b', run: (e) => chain(e).toggleBold().run(), active: (e) => e.isActive('bold') },
  { id: 'italic', label: 'I', title: 'Italic (Ctrl+I)', cls: 'i', run: (e) => chain(e).toggleItalic().run(), active: (e) => e.isActive('italic') },
  { id: 'underline', label: 'U', title: 'Underline (Ctrl+U)', cls: 'u', run: (e) => chain(e).toggleUnderline().run(), active: (e) => e.isActive('underline') },
  { id: 'strike', label: 'S', title: 'Strikethrough', cls: 's', run: (e) => chain(e).toggleStrike().run(), active: (e) => e.isActive('strike') },
  { id: 'code', label: '</>', title: 'Inline code', run: (e) => chain(e).toggleCode().run(), active: (e) => e.isActive('code') },
  '|',
  { id: 'bullet', label: '• List', title: 'Bulleted list', run: (e) => chain(e).toggleBulletList().run(), active: (e) => e.isActive('bulletList') },
  { id: 'ordered', label: '1. List', title: 'Numbered list', run: (e) => chain(e).toggleOrderedList().run(), active: (e) => e.isActive('orderedList') },
  { id: 'quote', label: '❝', title: 'Quote', run: (e) => chain(e).toggleBlockquote().run(), active: (e) => e.isActive('blockquote') },
  { id: 'codeblock', label: '{ }', title: 'Code block', run: (e) => chain(e).toggleCodeBlock().run(), active: (e) => e.isActive('codeBlock') },
];

export function buildToolbar(editor: Editor): HTMLElement {
  const bar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Formatting', 'data-testid': 'toolbar' });
  const buttons: { tool: Tool; el: HTMLButtonElement }[] = [];
  for (const t of TOOLS) {
    if (t === '|') {
      bar.append(h('span', { class: 'tsep', 'aria-hidden': 'true' }));
      continue;
    }
    const el = h('button', { type: 'button', class: `tbtn ${t.cls ?? ''}`, title: t.title, 'aria-label': t.title, 'data-tool': t.id }, t.label);
    el.addEventListener('mousedown', (ev) => ev.preventDefault()); // keep the editor selection
    el.addEventListener('click', () => t.run(editor));
    buttons.push({ tool: t, el });
    bar.append(el);
  }

  // Link editor: a small inline form instead of window.prompt.
  bar.append(h('span', { class: 'tsep', 'aria-hidden': 'true' }));
  const linkBtn = h('button', { type: 'button', class: 'tbtn', title: 'Link (Ctrl+K)', 'aria-label': 'Link', 'data-tool': 'link' });
  linkBtn.innerHTML = LINK_ICON;
  const linkInput = h('input', { class: 'input link-input', type: 'url', placeholder: 'https://…', 'aria-label': 'Link address' });
  const linkApply = h('button', { type: 'submit', class: 'btn primary small' }, 'Apply');
  const linkRemove = h('button', { type: 'button', class: 'btn ghost small' }, 'Remove');
  const linkForm = h('form', { class: 'link-form', hidden: true }, linkInput, linkApply, linkRemove);
  const openLink = () => {
    linkInput.value = editor.getAttributes('link').href ?? '';
    linkForm.hidden = false;
    linkInput.focus();
    linkInput.select();
  };
  const closeLink = () => {
    linkForm.hidden = true;
    editor.commands.focus();
  };
  linkBtn.addEventListener('mousedown', (ev) => ev.preventDefault());
  linkBtn.addEventListener('click', () => (linkForm.hidden ? openLink() : closeLink()));
  linkForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const href = linkInput.value.trim();
    if (!href) editor.chain().focus().extendMarkRange('link').unsetLink().run();
    else editor.chain().focus().extendMarkRange('link').setLink({ href: /^[a-z][a-z0-9+.-]*:/i.test(href) ? href : `https://${href}` }).run();
    linkForm.hidden = true;
  });
  linkRemove.addEventListener('click', () => {
    editor.chain().focus().extendMarkRange('link').unsetLink().run();
    linkForm.hidden = true;
  });
  linkInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') closeLink();
  });
  editor.view.dom.addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === 'k' && editor.isEditable) {
      ev.preventDefault();
      openLink();
    }
  });
  bar.append(linkBtn, linkForm);

  const refresh = () => {
    const editable = editor.isEditable;
    bar.classList.toggle('readonly', !editable);
    for (const { tool, el } of buttons) {
      el.classList.toggle('active', !!tool.active?.(editor));
      el.disabled = !editable || (tool.can ? !tool.can(editor) : false);
    }
    linkBtn.classList.toggle('active', editor.isActive('link'));
    linkBtn.disabled = !editable;
  };
  editor.on('transaction', refresh);
  editor.on('selectionUpdate', refresh);
  editor.on('update', refresh);
  refresh();
  return bar;
}
