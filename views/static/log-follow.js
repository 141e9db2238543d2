// Follows a running job's log on its page: polls the byte-range API from where the page
// ends and appends what is new, until the API says the attempt may write no more. Served
// as a file (no inline script) for the Content-Security-Policy; text is added as text.
(function () {
  'use strict';
  var pre = document.getElementById('log-text');
  var state = document.getElementById('follow-state');
  if (!pre || !pre.dataset.follow) return;
  var url = pre.dataset.follow;
  var offset = Number(pre.dataset.offset) || 0;
  var decoder = new TextDecoder('utf-8');
  var POLL_MS = 2000;

  function say(text) {
    if (state) state.textContent = text;
  }

  function poll() {
    fetch(url + '&offset=' + offset, { headers: { accept: 'text/plain' }, credentials: 'same-origin' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        var active = res.headers.get('X-DPC-Log-Active') === '1';
        return res.arrayBuffer().then(function (buf) {
          if (buf.byteLength > 0) {
            offset += buf.byteLength;
            var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 4;
            pre.appendChild(document.createTextNode(decoder.decode(buf, { stream: true })));
            if (atBottom) window.scrollTo(0, document.body.scrollHeight);
          }
          if (active) {
            say('following while the job runs');
            setTimeout(poll, POLL_MS);
          } else {
            pre.appendChild(document.createTextNode(decoder.decode()));
            say('the attempt has ended; reload the page for its final state');
          }
        });
      })
      .catch(function (err) {
        say('follow stopped: ' + err.message + '; reload the page to go on');
      });
  }
  say('following while the job runs');
  setTimeout(poll, POLL_MS);
})();
