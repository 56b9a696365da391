// The eight statuses: name, colour (app.css, --<STATUS>) and one-line meaning
// (README's status table, as a marketer reads it).
export const STATUSES = [
  "DESIGNING", "SCHEDULED", "ACTIVE", "PAUSED", "CLOSED", "FROZEN", "ERROR", "ABORTED",
];

export const MEANINGS = {
  DESIGNING: "Being designed: nobody enters and nothing runs; edits are saved as drafts.",
  SCHEDULED: "Waiting for its start date: nobody enters yet; edits are live at once.",
  ACTIVE: "Running: new customers enter inside its window and those inside move on.",
  PAUSED: "Paused: newcomers still enter, but everyone inside waits and queued messages are held.",
  CLOSED: "Closed to newcomers: the customers inside go on to the end of the flow.",
  FROZEN: "Frozen: nobody enters, everyone inside waits and queued messages are held.",
  ERROR: "Failed: everything is held until an admin recovers it.",
  ABORTED: "Ended for good: customers were taken out and queued messages cancelled.",
};

export const colour = (status) => `var(--${status})`;

// The mutation behind each action a caller may take (Journey.availableActions).
export const ACTIONS = {
  ACTIVATE: { field: "activateJourney", label: "Activate" },
  PAUSE: { field: "pauseJourney", label: "Pause" },
  RESUME: { field: "resumeJourney", label: "Resume" },
  FREEZE: { field: "freezeJourney", label: "Freeze" },
  CLOSE: { field: "closeJourney", label: "Close" },
  REACTIVATE: { field: "reactivateJourney", label: "Reactivate" },
  ABORT: { field: "abortJourney", label: "Abort" },
  RECOVER: { field: "recoverJourney", label: "Recover" },
  FAIL: { field: "markJourneyError", label: "Mark as failed", noRevision: true },
};
