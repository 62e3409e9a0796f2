package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// examples are the Example sections of the commands, by command path
// without the leading "hallmark ". They are kept in one place so that they
// read as one consistent story (alice, bob, hello-world), and a test checks
// that every command has one and that each names a real command.
var examples = map[string]string{
	"": `hallmark serve --dev
hallmark trust http://127.0.0.1:8080
hallmark get hello-world -o downloads`,
	"serve": `hallmark serve --dev                                   # a development repository in ./hallmark-data
hallmark serve --data /srv/hallmark --addr 0.0.0.0:8080`,
	"trust": `hallmark trust http://127.0.0.1:8080                   # shows the fingerprint and asks
hallmark trust https://repo.example.org --fingerprint 3f2a…  # pins only that fingerprint`,
	"versions": `hallmark versions hello-world
hallmark versions hello-world --json`,
	"get": `hallmark get hello-world                               # the latest release, into the current directory
hallmark get hello-world@1.0.0 --file hello-1.0.0.tar.gz -o downloads
hallmark get hello-world -o downloads --overwrite       # replace files that differ`,
	"key": `hallmark key generate alice --label "Alice <alice@example.org>"
hallmark key export alice > alice.pub`,
	"key generate": `hallmark key generate alice --label "Alice <alice@example.org>"
HALLMARK_PASSPHRASE='a long passphrase' hallmark key generate ci-bot`,
	"key export": `hallmark key export alice                              # one line to give to co-maintainers
hallmark key export alice > alice.pub`,
	"key list": `hallmark key list`,
	"migrate":  `hallmark migrate --database postgres://hallmark@db.example.org/hallmark`,
	"key add-token": `hallmark key add-token alice-yk --uri 'pkcs11:token=YubiKey%20PIV;object=Private%20key%20for%20Digital%20Signature' --module /usr/lib/x86_64-linux-gnu/libykcs11.so
HALLMARK_PIN=123456 hallmark release upload hello-world 1.1.0 dist/* --key alice-yk`,
	"proxy": `hallmark proxy --listen 127.0.0.1:8081         # then: pip install --index-url http://127.0.0.1:8081/pypi/simple/ hello-world
hallmark proxy --listen 127.0.0.1:8081 --json  # npm install --registry http://127.0.0.1:8081/npm/ hello-world`,
	"project": `hallmark project create hello-world --key alice`,
	"project create": `hallmark project create hello-world --key alice
hallmark project create Hello_World                     # the same project: names are normalized`,
	"project show": `hallmark project show hello-world
hallmark project show hello-world --json`,
	"project threshold": `hallmark project threshold hello-world --releases 2  # every release needs two maintainers
hallmark project threshold hello-world --owners 2`,
	"project renew": `hallmark project renew hello-world`,
	"release":       `hallmark release upload hello-world 1.0.0 hello-1.0.0.tar.gz`,
	"release upload": `hallmark release upload hello-world 1.0.0 hello-1.0.0.tar.gz hello-1.0.0.py --key alice
hallmark release upload hello-world 2.0.0-rc.1 dist/* --yes   # in CI
hallmark release upload hello-world 1.1.0 hello-1.1.0.tar.gz --description "Says hello" --license MIT --homepage https://hello.example.org --readme README.md
hallmark release upload hello-world 1.2.0 hello-1.2.0.tar.gz --details project.json`,
	"release yank":   `hallmark release yank hello-world 1.0.0 --reason "broken on Windows"`,
	"release unyank": `hallmark release unyank hello-world 1.0.0`,
	"file":           `hallmark file remove hello-world 1.0.0 hello-1.0.0.py`,
	"file remove":    `hallmark file remove hello-world 1.0.0 hello-1.0.0.py`,
	"maintainer":     `hallmark maintainer add hello-world "$(cat bob.pub)"`,
	"maintainer add": `hallmark maintainer add hello-world "$(cat bob.pub)"
hallmark maintainer add hello-world bob.pub`,
	"maintainer remove": `hallmark maintainer remove hello-world "Bob <bob@example.org>"
hallmark maintainer remove hello-world 3f2a1b2c`,
	"owner":        `hallmark owner add hello-world "$(cat carol.pub)"`,
	"owner add":    `hallmark owner add hello-world "$(cat carol.pub)"`,
	"owner remove": `hallmark owner remove hello-world "Carol <carol@example.org>"`,
	"pending": `hallmark pending                                       # what your keys can sign
hallmark pending hello-world --all`,
	"pending resign": `hallmark pending resign hello-world 4352dea0debda090   # on the machine that made it`,
	"approve": `hallmark approve hello-world                           # the one pending change
hallmark approve hello-world 0a448ea2ab8fc9f5 --key bob`,
	"inspect": `hallmark inspect http://127.0.0.1:8080 -o inspect-out
hallmark inspect ./hallmark-data/blobs -o inspect-out`,
	"admin": `hallmark admin status
hallmark admin claim --all --keys ./offline-keys`,
	"admin status": `hallmark admin status
hallmark admin status --json`,
	"admin prepare": `hallmark admin prepare --data /srv/hallmark --shards 256 -o online-keys.json`,
	"admin init":    `hallmark admin init --keys ./offline-keys --online-keys online-keys.json -o init.json`,
	"admin claim": `hallmark admin claim --all --keys ./offline-keys
hallmark admin claim hello-world --keys ./offline-keys`,
	"admin block":   `hallmark admin block evil-package --reason "malware" --keys ./offline-keys`,
	"admin unblock": `hallmark admin unblock evil-package --keys ./offline-keys`,
	"admin renew":   `hallmark admin renew --keys ./offline-keys`,
	"admin rotate": `hallmark admin rotate claim --add "$(cat new-claim.pub)" --remove 3f2a1b2c --keys ./offline-keys
hallmark admin rotate online --online-keys next-online-keys.json --keys ./offline-keys`,
	"admin sign":   `hallmark admin sign ceremony-claim.json --keys ./my-offline-keys`,
	"admin submit": `hallmark admin submit ceremony-claim.json`,
	"witness": `hallmark witness init --data /srv/witness --name witness.example.org
hallmark witness serve --data /srv/witness --trust https://repo.example.org`,
	"admin witness": `hallmark admin witness add witness-example-org.json --keys ./offline-keys`,
	"admin config": `hallmark admin config                                  # show the signed settings
hallmark admin config --set expiry.timestamp.valid=12h --keys ./offline-keys
hallmark admin config --set allow-confusable+=hel1o-world --keys ./offline-keys`,
}

// setExamples gives every command its example, indented as cobra shows it.
func setExamples(c *cobra.Command) {
	path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "hallmark"), " ")
	if ex, ok := examples[path]; ok {
		c.Example = "  " + strings.ReplaceAll(ex, "\n", "\n  ")
	}
	for _, sub := range c.Commands() {
		setExamples(sub)
	}
}
