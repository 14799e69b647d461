#!/usr/bin/perl
# LMTP test clients for tests/integration/test_harden_lmtp.sh: a timed
# delivery, floods that never read, a slowloris, the session cap and a
# greeting probe. Core Perl only. Every loop is bounded in count and
# time. Usage: lmtp_client.pl MODE ADDR ARGS...  (ADDR: a TCP port on
# 127.0.0.1, or a unix socket path).
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Time::HiRes qw(time sleep);

$SIG{PIPE} = 'IGNORE';
my ($mode, $addr, @arg) = @ARGV;
die "usage: $0 MODE ADDR ARGS...\n" unless defined $addr;

sub conn {
	my $s = $addr =~ m{/}
	    ? IO::Socket::UNIX->new(Peer => $addr, Type => SOCK_STREAM)
	    : IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $addr,
				    Proto => 'tcp', Timeout => 5);
	die "connect $addr: $!\n" unless $s;
	binmode $s;
	return $s;
}

# Reads one whole reply (the line without '-' after the code) within
# $limit seconds: its last line, "EOF" when the server closed first,
# "TIMEOUT" when nothing complete came. $lines gets all its lines.
my %buf;
my $lines = '';
sub reply {
	my ($s, $limit) = @_;
	my $end = time + $limit;
	my $sel = IO::Select->new($s);
	$lines = '';
	for (;;) {
		while ($buf{$s} && $buf{$s} =~ s/^([^\n]*)\n//) {
			my $line = $1;
			$line =~ s/\r$//;
			$lines .= "$line\n";
			return $line if $line !~ /^\d{3}-/;
		}
		my $left = $end - time;
		return 'TIMEOUT' if $left <= 0;
		next unless $sel->can_read($left);
		my $n = sysread($s, my $chunk, 65536);
		return 'EOF' unless $n;
		$buf{$s} .= $chunk;
	}
}

sub expect {
	my ($s, $code, $what) = @_;
	my $r = reply($s, 5);
	die "$what: wanted $code, got [$r]\n" unless $r =~ /^$code/;
	return $r;
}

sub send_all {
	my ($s, $data) = @_;
	my $off = 0;
	while ($off < length $data) {
		my $n = syswrite($s, $data, length($data) - $off, $off);
		return 0 unless defined $n;
		$off += $n;
	}
	return 1;
}

# deliver RCPT FILE [xforward|ADDR]: one message (FILE's bytes, which end in
# CRLF, then ".\r\n"); prints the final reply and the milliseconds from
# connect to that reply (with $ENV{LMTP_RCPT_ANY}, a refused RCPT's reply
# and 0 instead). The envelope sender is $ENV{LMTP_FROM} (default
# sender@ext.test), the forwarded HELO $ENV{LMTP_HELO} (relay.example).
sub deliver {
	my ($rcpt, $file, $xf) = @_;
	my $t0 = time;
	my $s = conn();
	open(my $fh, '<:raw', $file) or die "$file: $!\n";
	my $body = do { local $/; <$fh> };
	close $fh;
	expect($s, 220, 'greeting');
	send_all($s, "LHLO client.test\r\n");
	expect($s, 250, 'LHLO');
	if ($xf) {
		die "XFORWARD not advertised:\n$lines" if $lines !~ /XFORWARD/;
		# "xforward" or the client address to forward.
		my $ip = $xf =~ /^[0-9A-Fa-f.:]+$/ ? $xf : '192.0.2.7';
		my $helo = $ENV{LMTP_HELO} // 'relay.example';
		send_all($s, "XFORWARD NAME=relay.example ADDR=$ip " .
			 "PROTO=ESMTP HELO=$helo\r\n");
		expect($s, 250, 'XFORWARD');
	}
	my $from = $ENV{LMTP_FROM} // 'sender@ext.test';
	send_all($s, "MAIL FROM:<$from>\r\n");
	expect($s, 250, 'MAIL');
	send_all($s, "RCPT TO:<$rcpt>\r\n");
	if ($ENV{LMTP_RCPT_ANY}) {
		# A refused recipient is the answer, printed like a final one.
		my $rr = reply($s, 5);
		if ($rr !~ /^250/) {
			print "$rr|0\n";
			return;
		}
	} else {
		expect($s, 250, 'RCPT');
	}
	send_all($s, "DATA\r\n");
	expect($s, 354, 'DATA');
	send_all($s, $body . ".\r\n");
	my $r = reply($s, 10);
	my $ms = int((time - $t0) * 1000);
	send_all($s, "QUIT\r\n");
	reply($s, 2);
	print "$r|$ms\n";
}

# flood noop|afterdot BYTES [RCPT]: writes up to BYTES of pipelined
# input and never reads. noop: "NOOP" lines after LHLO. afterdot: a
# whole transaction, then lines of junk right after the final ".",
# while the delivery runs. Prints how it ended: "closed" (the server
# closed the connection) or "wrote" (everything went out), the bytes
# written and the seconds taken.
sub flood {
	my ($kind, $bytes, $rcpt) = @_;
	my $t0 = time;
	my $s = conn();
	my $head = "LHLO flood.test\r\n";
	my $line = "NOOP\r\n";
	if ($kind eq 'afterdot') {
		$head .= "MAIL FROM:<f\@ext.test>\r\nRCPT TO:<$rcpt>\r\n" .
			 "DATA\r\nSubject: flood\r\n\r\nx\r\n.\r\n";
		$line = "xx\r\n";
	}
	my $chunk = $line x int(1048576 / length $line);
	my $done = 0;
	my $ok = send_all($s, $head);
	while ($ok && $done < $bytes) {
		$ok = send_all($s, $chunk);
		$done += length $chunk if $ok;
	}
	printf "%s %d %.1f\n", $ok ? 'wrote' : 'closed', $done, time - $t0;
}

# slowloris N SECONDS INTERVAL RCPT: N connections, the even ones
# trickling a command line, the odd ones inside DATA, one byte each
# every INTERVAL seconds for at most SECONDS. Prints, per kind, how
# many the server closed, how many of those with a 421, and the longest
# time one of them stayed open.
sub slowloris {
	my ($n, $secs, $interval, $rcpt) = @_;
	my $t0 = time;
	my (@socks, %kind, %closed, %got421);
	for my $i (0 .. $n - 1) {
		my $s = conn();
		$kind{$s} = $i % 2 ? 'data' : 'cmd';
		if ($i % 2) {
			send_all($s, "LHLO slow.test\r\nMAIL FROM:<s\@ext.test>\r\n" .
				 "RCPT TO:<$rcpt>\r\nDATA\r\nSubject: slow\r\n\r\n");
		}
		push @socks, $s;
	}
	my $sel = IO::Select->new(@socks);
	my $next = time;
	while (time - $t0 < $secs && $sel->count) {
		if (time >= $next) {
			for my $s ($sel->handles) {
				send_all($s, $kind{$s} eq 'data' ? 'y' : 'N');
			}
			$next += $interval;
		}
		my $wait = $next - time;
		$wait = 0.05 if $wait < 0.05;
		for my $s ($sel->can_read($wait)) {
			my $r = sysread($s, my $chunk, 65536);
			if (!$r) {
				$closed{$s} = time - $t0;
				$sel->remove($s);
				next;
			}
			$got421{$s} = 1 if $chunk =~ /^421 4\.4\.2 /m;
		}
	}
	for my $k ('cmd', 'data') {
		my @mine = grep { $kind{$_} eq $k } @socks;
		my @c = grep { exists $closed{$_} } @mine;
		my $max = 0;
		for (@c) { $max = $closed{$_} if $closed{$_} > $max }
		printf "%s closed=%d/%d with421=%d maxlife=%.1f\n", $k,
		    scalar @c, scalar @mine,
		    scalar(grep { $got421{$_} } @c), $max;
	}
}

# cap N: opens N connections that all must be greeted; one more must
# wait (no greeting within 1.5 s) until one of the N closes, then be
# greeted. Prints "greeted=G extra_before=REPLY extra_after=REPLY|ms".
sub cap {
	my ($n) = @_;
	my @socks;
	my $greeted = 0;
	for (1 .. $n) {
		my $s = conn();
		push @socks, $s;
		$greeted++ if reply($s, 3) =~ /^220 /;
	}
	my $extra = conn();
	my $before = reply($extra, 1.5);
	my $t = time;
	close(shift @socks);
	my $after = reply($extra, 5);
	printf "greeted=%d extra_before=%s extra_after=%s|%d\n", $greeted,
	    $before, $after, int((time - $t) * 1000);
}

# greet: the first reply, and "EOF" or "OPEN" for what follows within
# 3 s (a refused client is closed at once).
sub greet {
	my $s = conn();
	my $r = reply($s, 5);
	my $next = reply($s, 3);
	printf "%s|%s\n", $r, $next eq 'EOF' ? 'EOF' : 'OPEN';
}

# hold N SECONDS: N connections kept open without a word, then closed;
# prints how many were greeted by then.
sub hold {
	my ($n, $secs) = @_;
	my @socks = map { conn() } 1 .. $n;
	sleep $secs;
	my $greeted = grep { reply($_, 0.2) =~ /^220 / } @socks;
	print "greeted=$greeted\n";
}

if ($mode eq 'deliver') { deliver(@arg) }
elsif ($mode eq 'flood') { flood(@arg) }
elsif ($mode eq 'slowloris') { slowloris(@arg) }
elsif ($mode eq 'cap') { cap(@arg) }
elsif ($mode eq 'greet') { greet() }
elsif ($mode eq 'hold') { hold(@arg) }
else { die "unknown mode $mode\n" }
