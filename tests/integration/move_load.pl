#!/usr/bin/perl
# LMTP load for tests/integration/test_shard_move.sh: delivers message
# after message (Subject "TAG-N", N counting up) to the given users in
# turn over one session, the way Postfix would: a 4xx answer is retried
# (the same message, after RETRY_MS) and only a 250 counts. Prints one
# line per outcome: "ACK user subject", "TEMP user subject code",
# "PERM user subject code". Stops when STOPFILE exists, after MAX
# messages or after SECONDS, whichever comes first. Core Perl only.
# Usage: move_load.pl PORT TAG STOPFILE MAX SECONDS USER...
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my ($port, $tag, $stop, $max, $secs, @users) = @ARGV;
die "usage: $0 PORT TAG STOPFILE MAX SECONDS USER...\n" unless @users;
$| = 1;
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
			      Proto => 'tcp', Timeout => 10)
    or die "connect $port: $!\n";
binmode $s;

# One whole reply: its last line.
sub reply {
	my $last;
	for (;;) {
		my $line = <$s>;
		die "EOF from LMTP\n" unless defined $line;
		$line =~ s/\r?\n$//;
		$last = $line;
		return $last if $line =~ /^\d{3} /;
	}
}
sub cmd {
	print $s "$_[0]\r\n";
	return reply();
}

reply() =~ /^220 / or die "no greeting\n";
cmd('LHLO load.test') =~ /^250 / or die "LHLO refused\n";
my $end = time + $secs;
my ($n, $tries) = (0, 0);
while ($n < $max && time < $end && !-e $stop) {
	my $user = $users[$n % @users];
	my $subj = "$tag-$n";
	my $r = cmd('MAIL FROM:<load@sender.test>');
	die "MAIL: $r\n" unless $r =~ /^250 /;
	$r = cmd("RCPT TO:<$user>");
	if ($r =~ /^250 /) {
		cmd('DATA') =~ /^354 / or die "DATA refused\n";
		print $s "From: load\@sender.test\r\nTo: $user\r\n" .
		    "Subject: $subj\r\nMessage-ID: <$subj\@load.test>\r\n\r\n" .
		    "body of $subj\r\n.\r\n";
		$r = reply();
	} else {
		cmd('RSET');
	}
	my ($code) = $r =~ /^(\d{3})/;
	if ($code == 250) {
		print "ACK $user $subj\n";
		$n++;
		$tries = 0;
	} elsif ($code =~ /^4/ && ++$tries < 200) {
		print "TEMP $user $subj $code\n";
		sleep 0.05;
	} else {
		print "PERM $user $subj $code\n";
		$n++;
		$tries = 0;
	}
	sleep 0.01;
}
cmd('QUIT');
