%% Peer benchmark: the same runtime workloads as `crashcourse bench runtime`, on Erlang/OTP,
%% with the same sizes, figure names, units and timing windows.
%% Run: bench/peers/erlang-peer [quick]   (compiles this file into a temporary folder and runs it)
%% Prints one line per figure:  bench <name> <value> <unit>
-module(peer_bench).
-export([main/0, main/1]).

main() -> main([]).

main(Args) ->
    Quick = lists:member(quick, Args),
    Scale = case Quick of true -> 10; false -> 1 end,
    io:format("# Erlang/OTP ~s, erts ~s, ~p schedulers~n",
              [erlang:system_info(otp_release), erlang:system_info(version),
               erlang:system_info(schedulers_online)]),
    spawn_idle(1000000 div Scale),
    spawn_exit(1000000 div Scale),
    ring(10000, 1000000 div Scale),
    fanout(100000 div Scale),
    restart(1000),
    ok.

line(Name, Value, Unit) -> io:format("bench ~s ~.3f ~s~n", [Name, float(Value), Unit]).

idle() -> receive stop -> ok end.

%% N processes that wait in receive: spawn time and memory per process.
spawn_idle(N) ->
    erlang:garbage_collect(),
    M0 = erlang:memory(processes),
    R0 = rss_bytes(),
    T0 = now_us(),
    Pids = [spawn(fun idle/0) || _ <- lists:seq(1, N)],
    T1 = now_us(),
    M1 = erlang:memory(processes),
    R1 = rss_bytes(),
    line("spawn_idle.rate", N / ((T1 - T0) / 1.0e6), "proc/s"),
    %% RSS first, as `crashcourse bench runtime` prints it.
    line("spawn_idle.rss_per_process", (R1 - R0) / N, "B"),
    line("spawn_idle.bytes_per_process", (M1 - M0) / N, "B"),
    [erlang:monitor(process, P) || P <- Pids],
    T2 = now_us(),
    [P ! stop || P <- Pids],
    wait_down(N),
    T3 = now_us(),
    line("spawn_idle.stop_all", (T3 - T2) / 1.0e3, "ms").

%% N processes that tell their parent they ran, then exit: spawn + run + exit rate.
spawn_exit(N) ->
    Self = self(),
    T0 = now_us(),
    [spawn(fun() -> Self ! done end) || _ <- lists:seq(1, N)],
    wait(N),
    T1 = now_us(),
    line("spawn_exit.rate", N / ((T1 - T0) / 1.0e6), "proc/s").

wait_down(0) -> ok;
wait_down(K) -> receive {'DOWN', _, process, _, _} -> wait_down(K - 1) end.

wait(0) -> ok;
wait(K) -> receive done -> wait(K - 1) end.

%% P processes in a ring pass one token H hops.
ring(P, H) ->
    Self = self(),
    First = lists:foldl(fun(_, Next) -> spawn(fun() -> ring_node(Next) end) end,
                        Self, lists:seq(1, P - 1)),
    T0 = now_us(),
    First ! {token, H - 1},
    ring_main(First),
    T1 = now_us(),
    line("ring.msgs_per_s", H / ((T1 - T0) / 1.0e6), "msg/s"),
    First ! stop.

ring_main(First) ->
    receive
        {token, 0} -> ok;
        {token, K} -> First ! {token, K - 1}, ring_main(First)
    end.

ring_node(Next) ->
    receive
        {token, K} -> Next ! {token, max(K - 1, 0)}, ring_node(Next);
        stop -> Next ! stop
    end.

%% One message to S subscribers, each acknowledges to a collector: time until all have it.
fanout(S) ->
    Self = self(),
    Subs = [spawn(fun() -> receive {msg, C} -> C ! ack end end) || _ <- lists:seq(1, S)],
    T0 = now_us(),
    [Sub ! {msg, Self} || Sub <- Subs],
    wait_ack(S),
    T1 = now_us(),
    line("fanout.deliver_all", (T1 - T0) / 1.0e3, "ms").

wait_ack(0) -> ok;
wait_ack(K) -> receive ack -> wait_ack(K - 1) end.

%% A one_for_one supervisor restarts a registered worker; K kills, mean time from kill until the new one is registered.
restart(K) ->
    {ok, Sup} = peer_sup:start_link(K * 2),
    unlink(Sup),
    T0 = now_us(),
    restart_loop(K),
    T1 = now_us(),
    line("restart.mean", (T1 - T0) / K, "us"),
    exit(Sup, shutdown).

restart_loop(0) -> ok;
restart_loop(K) ->
    Old = wait_registered(undefined),
    exit(Old, kill),
    _ = wait_registered(Old),
    restart_loop(K - 1).

wait_registered(Old) ->
    case whereis(peer_worker) of
        undefined -> erlang:yield(), wait_registered(Old);
        Old -> erlang:yield(), wait_registered(Old);
        Pid -> Pid
    end.

now_us() -> erlang:monotonic_time(microsecond).

%% Resident set size of this OS process, from /proc/self/status.
rss_bytes() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    {match, [Kb]} = re:run(Status, "VmRSS:\\s+([0-9]+) kB", [{capture, all_but_first, list}]),
    list_to_integer(Kb) * 1024.
