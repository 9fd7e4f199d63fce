package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// listenForAsterisk serves the address Asterisk's outbound websockets
// connect to (ari.mode outbound), paths /ari and /ari/<node>, over TLS
// when a certificate is configured. stop closes the listener; the
// connections themselves end with their clients.
func listenForAsterisk(cfg *Config, serveAsterisk http.HandlerFunc, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", cfg.ARI.Listen)
	if err != nil {
		return nil, fmt.Errorf("ari.listen %s: %w", cfg.ARI.Listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ari", serveAsterisk)
	mux.HandleFunc("/ari/{node}", serveAsterisk)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	serve, scheme := func() error { return srv.Serve(ln) }, "ws"
	if cfg.ARI.ListenCertFile != "" {
		serve, scheme = func() error { return srv.ServeTLS(ln, cfg.ARI.ListenCertFile, cfg.ARI.ListenKeyFile) }, "wss"
	}
	stop = runServer(srv, serve, func(err error) {
		log.Error("listener for Asterisk's outbound websocket failed", zap.Error(err))
	})
	log.Info("waiting for Asterisks' outbound websockets", zap.String("uri", scheme+"://"+ln.Addr().String()+"/ari"),
		zap.String("node", cfg.ARI.Node), zap.String("other_nodes", scheme+"://"+ln.Addr().String()+"/ari/<node>"))
	return stop, nil
}

// awaitAsterisk waits (outbound mode) until Asterisk has connected, logging
// now and then, so the engine's first requests have a connection.
func awaitAsterisk(ctx context.Context, client *ari.Client, log *zap.Logger) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := client.WaitConnected(wctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("Asterisk has not connected yet (check websocket_client.conf's uri and credentials, and ari.conf's outbound_websocket)")
	}
}
