package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// The write workloads ask the server itself, on the same counters port, what a folder
// holds: a client's own word that it has uploaded is not what is measured.

// folderState is what the server holds below a folder.
type folderState struct {
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	Version string `json:"version"` // changes on every write below the folder
}

// folder reads the server's summary of the folder rel (relative to the user's root).
func (s *serverCounters) folder(ctx context.Context, rel string) (folderState, error) {
	var st folderState
	err := s.getJSON(ctx, s.http, "/folder?path="+url.QueryEscape(rel), &st)
	if err != nil {
		return st, fmt.Errorf("benchtool: the server's summary of %s: %w", rel, err)
	}
	return st, nil
}

// folderSHA256 has the server hash every file below rel, by path relative to rel.
func (s *serverCounters) folderSHA256(ctx context.Context, rel string) (map[string]string, error) {
	var out struct {
		Files map[string]string `json:"files"`
	}
	// Hashing a 1 GiB file takes the server seconds on a busy machine.
	slow := &http.Client{Timeout: 5 * time.Minute}
	if err := s.getJSON(ctx, slow, "/folder/sha256?path="+url.QueryEscape(rel), &out); err != nil {
		return nil, fmt.Errorf("benchtool: the server's hashes of %s: %w", rel, err)
	}
	return out.Files, nil
}

// resetFolder has the server delete rel for good (with its trash and unfinished chunked
// uploads, so that earlier runs' bytes leave its memory) and make it again, empty.
func (s *serverCounters) resetFolder(ctx context.Context, rel string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/folder/reset?path="+url.QueryEscape(rel), nil)
	if err != nil {
		return fmt.Errorf("benchtool: reset %s on the server: %w", rel, err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("benchtool: reset %s on the server: %w", rel, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("benchtool: reset %s on the server: %s: %s", rel, resp.Status, msg)
	}
	return nil
}

func (s *serverCounters) getJSON(ctx context.Context, client *http.Client, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	// The hashes of 10,000 files are about 1 MiB of JSON.
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v)
}
