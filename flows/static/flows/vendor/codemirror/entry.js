// Trellis's CodeMirror 6 bundle: only what flows/static/flows/editor.js uses.
export { EditorView, keymap } from "@codemirror/view";
export { EditorState } from "@codemirror/state";
export { basicSetup } from "codemirror";
export { yaml } from "@codemirror/lang-yaml";
export { linter, lintGutter, forceLinting } from "@codemirror/lint";
export { autocompletion, startCompletion } from "@codemirror/autocomplete";
