"""What-if replay (issue 14): past orders replayed through rule versions on a virtual clock.

Pure: `timeline.rebuild` turns an order's current values and its event log into the states it
went through; `rules.replay` runs rule definitions over those states and collects what would have
fired (and the to-dos the actions would have created); `diff.compare` sets two runs side by side.
Nothing here reads the clock or writes anything.
"""
