// chat_main.cpp: chat-server, stage 4's broadcast server: one thread, one epoll loop.
//
//   chat-server [--port 4001] [--max-queue 64K] [--max-line 1024] [--max-clients 1000]
//   nc 127.0.0.1 4001        # then type; /nick NAME, /who, /me ACTION, /quit
//
// Every line a client sends goes to every other client. The loop never waits for one
// client: each has a bounded output queue, and a client that does not read its messages
// is disconnected at --max-queue bytes (chat_room.hpp says why that policy).
// SIGINT/SIGTERM: everyone is told, what fits is sent, the server exits 0.
#include <signal.h>

#include <cstdio>
#include <exception>

#include "chat_server.hpp"
#include "event_loop.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/log.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"

using namespace serverlab;

int main(int argc, char** argv) {
  ServerOptions server_options;  // serverlab's: --port, --bind, --log-*
  std::uint64_t max_queue = 64 * 1024;
  std::uint64_t max_line = 1024;
  int max_clients = 1000;
  Flags flags("chat-server",
              "A chat room on one epoll loop: every line goes to every other client (stage 4).\n"
              "Commands: /nick NAME, /who, /me ACTION, /quit [WHY]. A client that does not read\n"
              "is disconnected once --max-queue bytes wait for it; the others never wait.");
  add_server_flags(flags, server_options, 4001);
  flags.add_size("max-queue", max_queue,
                 "bytes queued for one client before it is disconnected as too slow");
  flags.add_size("max-line", max_line, "longest line a client may send (longer: told, then closed)");
  flags.add("max-clients", max_clients, "clients at once; one more is told the room is full", 1,
            100000);
  flags.add_check([&]() -> std::optional<std::string> {
    if (max_queue < 1024) return "--max-queue: at least 1K (a few lines must fit)";
    if (max_line < 16 || max_line > max_queue / 2)
      return "--max-line: between 16 bytes and half of --max-queue";
    return std::nullopt;
  });
  flags.parse_or_exit(argc, argv);

  try {
    configure_logging(server_options);
    ignore_sigpipe();
    EventLoop loop;
    chat::ChatServer* server_ptr = nullptr;
    SignalWatcher signals(loop, {SIGINT, SIGTERM}, [&server_ptr](int) {
      if (server_ptr != nullptr) server_ptr->shutdown();
    });
    chat::ServerOptions options;
    options.room.max_queued = max_queue;
    options.room.max_line = max_line;
    options.max_clients = static_cast<std::size_t>(max_clients);
    chat::ChatServer server(loop, options);
    server_ptr = &server;

    Fd listener = listen_tcp(server_options.bind, server_options.port,
                             ListenOptions{.backlog = 511, .reuse_port = false, .nonblocking = true});
    announce_listening(listener.get());
    server.listen(std::move(listener));
    loop.set_before_sleep([&server] { server.collect_garbage(); });
    loop.run();
    log::info("chat-server stopped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat-server: %s\n", e.what());
    return 1;
  }
  return 0;
}
