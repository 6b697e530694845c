package bidi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// errNoSharedID: an expression given to Element is not a node.
var errNoSharedID = errors.New("bidi: the value is not a node with a shared id")

// Tab is one top-level browsing context. Tabs from NewTab each live in a user
// context of their own, so they share no cookies or storage.
type Tab struct {
	b  *Browser
	ID string // the BiDi browsing context id, as in LogEntry.Context
}

// NewTab opens a tab in a new user context (its own cookie jar) and sets its
// viewport to width×height CSS pixels.
func (b *Browser) NewTab(ctx context.Context, width, height int) (*Tab, error) {
	var user struct {
		UserContext string `json:"userContext"`
	}
	if err := b.callInto(ctx, "browser.createUserContext", map[string]any{}, &user); err != nil {
		return nil, err
	}
	var created struct {
		Context string `json:"context"`
	}
	params := map[string]any{"type": "tab", "userContext": user.UserContext}
	if err := b.callInto(ctx, "browsingContext.create", params, &created); err != nil {
		return nil, err
	}
	t := &Tab{b: b, ID: created.Context}
	viewport := map[string]any{"context": t.ID, "viewport": map[string]int{"width": width, "height": height}}
	if _, err := b.call(ctx, "browsingContext.setViewport", viewport); err != nil {
		return nil, err
	}
	return t, nil
}

// callInto sends a command and decodes its result into out.
func (b *Browser) callInto(ctx context.Context, method string, params, out any) error {
	result, err := b.call(ctx, method, params)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(result, out); err != nil {
		return fmt.Errorf("bidi: %s: undecodable result: %w", method, err)
	}
	return nil
}

// Navigate loads url and waits until the page has loaded ("complete").
func (t *Tab) Navigate(ctx context.Context, url string) error {
	_, err := t.b.call(ctx, "browsingContext.navigate", map[string]any{"context": t.ID, "url": url, "wait": "complete"})
	return err
}

// Evaluate runs a JavaScript expression in the page, waits for it if it is a
// promise, and returns its value. An exception comes back as a *ScriptError.
func (t *Tab) Evaluate(ctx context.Context, expr string) (Value, error) {
	params := map[string]any{
		"expression":      expr,
		"target":          map[string]string{"context": t.ID},
		"awaitPromise":    true,
		"resultOwnership": "root",
	}
	var r struct {
		Type             string `json:"type"`
		Result           Value  `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := t.b.callInto(ctx, "script.evaluate", params, &r); err != nil {
		return Value{}, err
	}
	if r.Type == "exception" {
		return Value{}, &ScriptError{Text: r.ExceptionDetails.Text}
	}
	return r.Result, nil
}

// Element returns the element the expression evaluates to, scrolled into view, for
// Click and SetFiles.
func (t *Tab) Element(ctx context.Context, expr string) (Value, error) {
	v, err := t.Evaluate(ctx, `(() => { const el = (`+expr+`); el?.scrollIntoView?.({block: "center"}); return el; })()`)
	if err != nil {
		return Value{}, err
	}
	if v.SharedID == "" {
		return Value{}, fmt.Errorf("%w: %s is %s", errNoSharedID, expr, v.Type)
	}
	return v, nil
}

// element is how commands name a node.
func element(v Value) map[string]string { return map[string]string{"sharedId": v.SharedID} }

// Click moves the mouse to the middle of the element and clicks it with the
// primary button, as a user would.
func (t *Tab) Click(ctx context.Context, el Value) error {
	pointer := map[string]any{
		"type": "pointer", "id": "mouse", "parameters": map[string]string{"pointerType": "mouse"},
		"actions": []map[string]any{
			{"type": "pointerMove", "x": 0, "y": 0, "origin": map[string]any{"type": "element", "element": element(el)}},
			{"type": "pointerDown", "button": 0},
			{"type": "pointerUp", "button": 0},
		},
	}
	return t.performActions(ctx, pointer)
}

// Enter is the WebDriver key value of the Enter key, for Type.
const Enter = "\uE007"

// Type presses and releases a key for each character of text in the focused
// element, as a keyboard would.
func (t *Tab) Type(ctx context.Context, text string) error {
	var actions []map[string]any
	for _, r := range text {
		actions = append(actions,
			map[string]any{"type": "keyDown", "value": string(r)},
			map[string]any{"type": "keyUp", "value": string(r)})
	}
	return t.performActions(ctx, map[string]any{"type": "key", "id": "keyboard", "actions": actions})
}

// performActions runs one input source's actions, then releases what is still pressed.
func (t *Tab) performActions(ctx context.Context, source map[string]any) error {
	if _, err := t.b.call(ctx, "input.performActions", map[string]any{"context": t.ID, "actions": []any{source}}); err != nil {
		return err
	}
	_, err := t.b.call(ctx, "input.releaseActions", map[string]any{"context": t.ID})
	return err
}

// SetFiles picks files in an <input type=file> as the file picker would: the page
// gets input and change events.
func (t *Tab) SetFiles(ctx context.Context, input Value, paths []string) error {
	_, err := t.b.call(ctx, "input.setFiles", map[string]any{"context": t.ID, "element": element(input), "files": paths})
	return err
}

// Screenshot returns a PNG of the tab's viewport.
func (t *Tab) Screenshot(ctx context.Context) ([]byte, error) {
	var r struct {
		Data string `json:"data"`
	}
	if err := t.b.callInto(ctx, "browsingContext.captureScreenshot", map[string]any{"context": t.ID}, &r); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return nil, fmt.Errorf("bidi: browsingContext.captureScreenshot: undecodable image: %w", err)
	}
	return png, nil
}
